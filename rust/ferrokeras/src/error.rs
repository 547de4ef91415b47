//! The one error type of the engine. Every failure reachable from user input is an
//! `Error`; the bindings map each variant to the Python exception Keras 1 raised.

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine, by the Python exception it becomes.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// Incompatible or invalid shapes (Python `ValueError`).
    #[error("{0}")]
    Shape(String),
    /// A bad argument value (Python `ValueError`).
    #[error("{0}")]
    Value(String),
    /// A wrong dtype or kind of argument (Python `TypeError`).
    #[error("{0}")]
    Type(String),
    /// Something the engine does not implement (Python `NotImplementedError`).
    #[error("{0}")]
    Unsupported(String),
    /// File and I/O problems (Python `IOError`).
    #[error("{0}")]
    Io(String),
    /// A buffer that could not be allocated (Python `MemoryError`).
    #[error("{0}")]
    Memory(String),
}

/// `Err(Error::Shape(format!(...)))` in one token.
#[macro_export]
macro_rules! shape_err {
    ($($t:tt)*) => { Err($crate::Error::Shape(format!($($t)*))) };
}

/// `Err(Error::Value(format!(...)))` in one token.
#[macro_export]
macro_rules! value_err {
    ($($t:tt)*) => { Err($crate::Error::Value(format!($($t)*))) };
}

/// `Err(Error::Type(format!(...)))` in one token.
#[macro_export]
macro_rules! type_err {
    ($($t:tt)*) => { Err($crate::Error::Type(format!($($t)*))) };
}
