"""Speech generations: persisted tasks, the queue that hands them out, and the workers that run them."""
