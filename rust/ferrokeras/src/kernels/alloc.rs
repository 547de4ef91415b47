//! Fallible growth of the buffers whose size follows user data (op scratch, packing
//! buffers, workspaces). `Vec::resize` aborts the process when the allocation fails; a
//! model file or a layer argument (a huge `atrous_rate`, say) must instead get a Python
//! `MemoryError` and leave the interpreter alive, so every such buffer grows through
//! [`grow`].

use crate::{Error, Result};

/// Grows `v` to at least `len` elements (new ones `T::default()`), reporting a failed
/// allocation as [`Error::Memory`] naming `what` instead of aborting. Never shrinks:
/// buffers are reused call after call.
pub fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize, what: &str) -> Result<()> {
    if v.len() < len {
        let more = len - v.len();
        v.try_reserve_exact(more).map_err(|_| {
            Error::Memory(format!(
                "{what}: cannot allocate a work buffer of {len} elements ({:.1} GiB): out of memory",
                (len as f64) * (std::mem::size_of::<T>() as f64) / (1u64 << 30) as f64
            ))
        })?;
        v.resize(len, T::default());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_never_shrinks() {
        let mut v = vec![1.0f32; 3];
        grow(&mut v, 5, "t").unwrap();
        assert_eq!(v, [1.0, 1.0, 1.0, 0.0, 0.0]);
        grow(&mut v, 2, "t").unwrap();
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn an_impossible_size_is_an_error_not_an_abort() {
        let mut v: Vec<f32> = Vec::new();
        let e = grow(&mut v, usize::MAX / 8, "conv2d").unwrap_err();
        assert!(
            matches!(e, Error::Memory(ref m) if m.starts_with("conv2d")),
            "{e:?}"
        );
    }
}
