//! `pad`: constant padding, the interior written through a view.

use std::sync::Arc;

use super::view::{acc, gather, scatter, set, View};
use super::{nonneg_list, strides};
use crate::ops::{expect_floats, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::tensor::{fmt_shape, Value};
use crate::{Error, Result};

/// Constant padding: `pads` = (before0, after0, before1, after1, ...).
#[derive(Debug)]
pub struct Pad {
    pads: Vec<usize>,
    value: f32,
}

impl Pad {
    /// View of the interior of the padded output.
    fn view(&self, in_shape: &[usize], out_shape: &[usize]) -> View {
        let ost = strides(out_shape);
        let mut v = View::new(0);
        for k in 0..in_shape.len() {
            v.base += (self.pads[2 * k] * ost[k]) as isize;
            v.push(in_shape[k], ost[k] as isize);
        }
        v.finish()
    }
}

impl Op for Pad {
    fn name(&self) -> &str {
        "pad"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_floats("pad", inputs, 1)?;
        let x = &inputs[0].shape;
        if self.pads.len() != 2 * x.len() {
            return Err(Error::Value(format!(
                "pad: pads must have 2 entries per axis (before, after), got {} for an input of shape {}",
                self.pads.len(),
                fmt_shape(x)
            )));
        }
        let shape = x
            .iter()
            .enumerate()
            .map(|(k, d)| d.map(|d| d + self.pads[2 * k] + self.pads[2 * k + 1]))
            .collect();
        Ok(TypeInfo {
            dtype: inputs[0].dtype,
            shape,
        })
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        let x = inputs[0];
        let v = self.view(&x.shape, &out.shape);
        out.f.fill(self.value);
        scatter(&mut out.f, &v, &x.f, set);
        Ok(())
    }

    fn backward(
        &self,
        _: usize,
        inputs: &[&Value],
        out: &Value,
        g: &[f32],
        gin: &mut [f32],
        _: &mut OpCtx,
    ) -> Result<()> {
        gather(g, &self.view(&inputs[0].shape, &out.shape), gin, acc);
        Ok(())
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let pads = nonneg_list("pad", "pads", &a.ints_req("pads")?)?;
    let value = a.float("value", 0.0)? as f32;
    Ok(Arc::new(Pad { pads, value }))
}
