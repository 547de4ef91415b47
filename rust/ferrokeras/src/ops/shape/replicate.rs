//! `repeat`, `repeat_elements` and `tile`: stride-0 views of the input, whose
//! backward sums the copies.

use std::sync::Arc;

use super::view::{View, ViewOp, Viewed};
use super::{nonneg, nonneg_list, strides};
use crate::ops::{norm_axis, Attrs, OpRef, TypeInfo};
use crate::tensor::fmt_shape;
use crate::{Error, Result};

/// Which replication.
#[derive(Debug, Clone, PartialEq)]
enum Rep {
    /// `K.repeat`: (b, d) -> (b, n, d).
    Repeat(usize),
    /// `np.repeat(x, rep, axis)`.
    Elements { rep: usize, axis: i64 },
    /// `np.tile(x, n)`.
    Tile(Vec<usize>),
}

/// Replicates the input (all three are stride-0 views of it); the backward kernel sums
/// the copies.
#[derive(Debug)]
pub struct Replicate {
    rep: Rep,
    name: &'static str,
}

impl ViewOp for Replicate {
    fn name(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        let x = &inputs[0].shape;
        let shape = match &self.rep {
            Rep::Repeat(n) => {
                if x.len() != 2 {
                    return Err(Error::Shape(format!(
                        "repeat: expects a 2-D input, got shape {}",
                        fmt_shape(x)
                    )));
                }
                vec![x[0], Some(*n), x[1]]
            }
            Rep::Elements { rep, axis } => {
                let ax = norm_axis(self.name, *axis, x.len())?;
                let mut s = x.clone();
                s[ax] = s[ax].map(|d| d * rep);
                s
            }
            Rep::Tile(ns) => {
                let r = x.len().max(ns.len());
                (0..r)
                    .map(|k| {
                        let n = if k + ns.len() >= r {
                            ns[k + ns.len() - r]
                        } else {
                            1
                        };
                        let d = if k + x.len() >= r {
                            x[k + x.len() - r]
                        } else {
                            Some(1)
                        };
                        if n == 0 {
                            Some(0)
                        } else {
                            d.map(|d| d * n)
                        }
                    })
                    .collect()
            }
        };
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape,
        })
    }

    fn view(&self, shape: &[usize]) -> Result<View> {
        let st = strides(shape);
        let mut v = View::new(0);
        match &self.rep {
            Rep::Repeat(n) => {
                v.push(shape[0], st[0] as isize);
                v.push(*n, 0);
                v.push(shape[1], 1);
            }
            Rep::Elements { rep, axis } => {
                let ax = norm_axis(self.name, *axis, shape.len())?;
                for k in 0..shape.len() {
                    v.push(shape[k], st[k] as isize);
                    if k == ax {
                        v.push(*rep, 0);
                    }
                }
            }
            Rep::Tile(ns) => {
                let r = shape.len().max(ns.len());
                for k in 0..r {
                    let n = if k + ns.len() >= r {
                        ns[k + ns.len() - r]
                    } else {
                        1
                    };
                    let (d, s) = if k + shape.len() >= r {
                        let j = k + shape.len() - r;
                        (shape[j], st[j] as isize)
                    } else {
                        (1, 0)
                    };
                    v.push(n, 0);
                    v.push(d, s);
                }
            }
        }
        Ok(v.finish())
    }
}

pub(super) fn build(name: &'static str, a: &Attrs) -> Result<OpRef> {
    let rep = match name {
        "repeat" => Rep::Repeat(nonneg(name, "n", a.int_req("n")?)?),
        "repeat_elements" => {
            let rep = nonneg(name, "rep", a.int_req("rep")?)?;
            Rep::Elements {
                rep,
                axis: a.int_req("axis")?,
            }
        }
        _ => Rep::Tile(nonneg_list(name, "n", &a.ints_req("n")?)?),
    };
    Ok(Arc::new(Viewed(Replicate { rep, name })))
}
