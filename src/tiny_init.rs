//! A tiny PID 1 for `--init`: it reaps orphans and forwards signals.
