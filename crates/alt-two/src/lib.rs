//! `loop-alt-two`: placeholder until the loop is implemented.
