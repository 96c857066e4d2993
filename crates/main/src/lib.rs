//! `loop-main`: placeholder until the loop is implemented.
