//! `loop-alt-one`: placeholder until the loop is implemented.
