//! `loop-alt-three`: placeholder until the loop is implemented.
