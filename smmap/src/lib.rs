//! smmap
