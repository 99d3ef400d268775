"""Access to a studio people expose: keys, signing in with one, and the gate every request passes."""
