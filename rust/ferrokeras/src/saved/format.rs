//! The graph document of a program file: a versioned JSON object, written and read by
//! hand over `serde_json::Value` so that every field a corrupt file gets wrong is a
//! clear error naming the field, and so the bytes written are deterministic (objects
//! are ordered maps; floats print in their shortest exact form).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use crate::ops::Attr;
use crate::optim::{Constraint, OptimizerKind};
use crate::tensor::{DType, Shape};
use crate::{Error, Result};

/// The `format` field of every program document.
pub const FORMAT: &str = "ferrokeras.program";

/// The newest program format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// One node of the document; node `k` reads only nodes `< k`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeDoc {
    /// A fed input (or the learning phase).
    Placeholder {
        name: String,
        dtype: DType,
        shape: Shape,
    },
    /// A variable; its value is tensor `variable.{index}`.
    Variable { name: String, index: usize },
    /// A constant; its value is tensor `constant.{index}`.
    Constant { name: String, index: usize },
    /// An op built by registry name.
    Op {
        op: String,
        inputs: Vec<usize>,
        attrs: BTreeMap<String, Attr>,
    },
    /// The gradient of scalar node `loss` with respect to node `wrt`.
    Gradient { loss: usize, wrt: usize },
}

/// One update, applied after the outputs are computed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UpdateDoc {
    /// Variable node `variable` takes the value of node `value`.
    Assign { variable: usize, value: usize },
    /// A fused optimizer step.
    Optimizer(OptimizerDoc),
}

/// A fused optimizer step of the document; every variable is named by its node. One
/// struct, so that writing, reading and loading it name its fields, not list them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OptimizerDoc {
    pub kind: OptimizerKind,
    pub params: Vec<usize>,
    pub gradients: Vec<usize>,
    pub slots: Vec<Vec<usize>>,
    pub hyper: BTreeMap<String, usize>,
    pub epsilon: f32,
    pub clipnorm: Option<f32>,
    pub clipvalue: Option<f32>,
    pub constraints: Vec<Option<Constraint>>,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Doc {
    pub version: u64,
    pub inference: bool,
    pub fusion: bool,
    pub learning_phase: usize,
    pub nodes: Vec<NodeDoc>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub updates: Vec<UpdateDoc>,
    /// `(random op node, its stream's next call counter)`.
    pub random_counters: Vec<(usize, u64)>,
    pub metadata: BTreeMap<String, String>,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Value(format!("corrupt program file: {what}"))
}

fn num(v: f64) -> Json {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("nan")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

fn attr_to_json(a: &Attr) -> Json {
    match a {
        Attr::None => Json::Null,
        Attr::Bool(b) => json!({ "bool": b }),
        Attr::Int(i) => json!({ "int": i }),
        Attr::Float(f) => json!({ "float": num(*f) }),
        Attr::Str(s) => json!({ "str": s }),
        Attr::Ints(v) => json!({ "ints": v }),
        Attr::Floats(v) => json!({ "floats": v.iter().map(|&f| num(f)).collect::<Vec<_>>() }),
    }
}

fn kind_to_json(k: OptimizerKind) -> Json {
    match k {
        OptimizerKind::Sgd { nesterov } => json!({ "name": "SGD", "nesterov": nesterov }),
        OptimizerKind::Nadam { schedule_decay } => {
            json!({ "name": "Nadam", "schedule_decay": num(schedule_decay as f64) })
        }
        other => json!({ "name": other.name() }),
    }
}

fn constraint_to_json(c: &Option<Constraint>) -> Json {
    match c {
        None => Json::Null,
        Some(Constraint::NonNeg) => json!({ "name": "nonneg" }),
        Some(Constraint::MaxNorm { m, axis }) => {
            json!({ "name": "maxnorm", "m": num(*m as f64), "axis": axis })
        }
        Some(Constraint::UnitNorm { axis }) => json!({ "name": "unitnorm", "axis": axis }),
        Some(Constraint::MinMaxNorm {
            low,
            high,
            rate,
            axis,
        }) => json!({
            "name": "minmaxnorm",
            "low": num(*low as f64),
            "high": num(*high as f64),
            "rate": num(*rate as f64),
            "axis": axis,
        }),
    }
}

impl Doc {
    /// The document as compact JSON text.
    pub fn to_json(&self) -> String {
        let nodes: Vec<Json> = self
            .nodes
            .iter()
            .map(|n| match n {
                NodeDoc::Placeholder { name, dtype, shape } => json!({
                    "placeholder": { "name": name, "dtype": dtype.name(), "shape": shape }
                }),
                NodeDoc::Variable { name, index } => {
                    json!({ "variable": { "name": name, "index": index } })
                }
                NodeDoc::Constant { name, index } => {
                    json!({ "constant": { "name": name, "index": index } })
                }
                NodeDoc::Op { op, inputs, attrs } => {
                    let a: Map<String, Json> = attrs
                        .iter()
                        .map(|(k, v)| (k.clone(), attr_to_json(v)))
                        .collect();
                    json!({ "op": { "name": op, "inputs": inputs, "attrs": a } })
                }
                NodeDoc::Gradient { loss, wrt } => {
                    json!({ "gradient": { "loss": loss, "wrt": wrt } })
                }
            })
            .collect();
        let updates: Vec<Json> = self
            .updates
            .iter()
            .map(|u| match u {
                UpdateDoc::Assign { variable, value } => {
                    json!({ "assign": { "variable": variable, "value": value } })
                }
                UpdateDoc::Optimizer(o) => json!({ "optimizer": {
                    "kind": kind_to_json(o.kind),
                    "params": o.params,
                    "gradients": o.gradients,
                    "slots": o.slots,
                    "hyper": o.hyper,
                    "epsilon": num(o.epsilon as f64),
                    "clipnorm": o.clipnorm.map(|v| num(v as f64)),
                    "clipvalue": o.clipvalue.map(|v| num(v as f64)),
                    "constraints": o.constraints.iter().map(constraint_to_json).collect::<Vec<_>>(),
                }}),
            })
            .collect();
        json!({
            "format": FORMAT,
            "version": self.version,
            "inference": self.inference,
            "fusion": self.fusion,
            "learning_phase": self.learning_phase,
            "nodes": nodes,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "updates": updates,
            "random_counters": self.random_counters,
            "metadata": self.metadata,
        })
        .to_string()
    }

    /// Parses a document, checking the format name and version before anything else.
    pub fn parse(text: &str) -> Result<Doc> {
        let root: Json = serde_json::from_str(text)
            .map_err(|e| corrupt(format!("its graph is not valid JSON ({e})")))?;
        let r = Obj::new(&root, "the graph document")?;
        let format = r.str("format")?;
        if format != FORMAT {
            return Err(corrupt(format!(
                "format '{format}' is not '{FORMAT}' (not a ferrokeras program)"
            )));
        }
        let version = r.u64("version")?;
        if version > FORMAT_VERSION {
            return Err(Error::Unsupported(format!(
                "the file is a ferrokeras program of format version {version}, newer than \
                 this ferrokeras reads (version {FORMAT_VERSION} and older); upgrade \
                 ferrokeras to load it"
            )));
        }
        if version == 0 {
            return Err(corrupt("format version 0 does not exist"));
        }
        let nodes = r.each("nodes", "node", node_from_json)?;
        let updates = r.each("updates", "update", update_from_json)?;
        let random_counters = r
            .list("random_counters")?
            .iter()
            .map(|p| {
                let pair = p.as_array().filter(|a| a.len() == 2);
                match pair.map(|a| (a[0].as_u64(), a[1].as_u64())) {
                    Some((Some(n), Some(c))) => Ok((n as usize, c)),
                    _ => Err(corrupt("'random_counters' must hold [node, counter] pairs")),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = match root.get("metadata") {
            None | Some(Json::Null) => BTreeMap::new(),
            Some(Json::Object(m)) => m
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => Ok((k.clone(), s.to_string())),
                    None => Err(corrupt(format!("metadata '{k}' must be a string"))),
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(corrupt("'metadata' must be an object of strings")),
        };
        Ok(Doc {
            version,
            inference: r.bool("inference")?,
            fusion: r.bool("fusion")?,
            learning_phase: r.usize("learning_phase")?,
            nodes,
            inputs: r.usizes("inputs")?,
            outputs: r.usizes("outputs")?,
            updates,
            random_counters,
            metadata,
        })
    }
}

fn in_ctx(e: Error, ctx: &str) -> Error {
    match e {
        Error::Value(m) => match m.strip_prefix("corrupt program file: ") {
            Some(rest) => corrupt(format!("{ctx}: {rest}")),
            None => Error::Value(m),
        },
        other => other,
    }
}

/// A JSON object read field by field with errors naming the field.
struct Obj<'a> {
    map: &'a Map<String, Json>,
    what: &'a str,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Json, what: &'a str) -> Result<Obj<'a>> {
        match v {
            Json::Object(map) => Ok(Obj { map, what }),
            _ => Err(corrupt(format!("{what} must be a JSON object"))),
        }
    }

    fn get(&self, k: &str) -> Result<&'a Json> {
        self.map
            .get(k)
            .ok_or_else(|| corrupt(format!("{} has no '{k}'", self.what)))
    }

    fn bad(&self, k: &str, want: &str) -> Error {
        corrupt(format!("'{k}' of {} must be {want}", self.what))
    }

    fn str(&self, k: &str) -> Result<&'a str> {
        self.get(k)?.as_str().ok_or_else(|| self.bad(k, "a string"))
    }

    fn bool(&self, k: &str) -> Result<bool> {
        self.get(k)?
            .as_bool()
            .ok_or_else(|| self.bad(k, "true or false"))
    }

    fn u64(&self, k: &str) -> Result<u64> {
        self.get(k)?
            .as_u64()
            .ok_or_else(|| self.bad(k, "a non-negative integer"))
    }

    fn usize(&self, k: &str) -> Result<usize> {
        Ok(self.u64(k)? as usize)
    }

    fn list(&self, k: &str) -> Result<&'a Vec<Json>> {
        self.get(k)?.as_array().ok_or_else(|| self.bad(k, "a list"))
    }

    /// Every element of the list `k` read by `parse`; an error names the element
    /// (`{what} {index}: ...`).
    fn each<T>(&self, k: &str, what: &str, parse: impl Fn(&Json) -> Result<T>) -> Result<Vec<T>> {
        self.list(k)?
            .iter()
            .enumerate()
            .map(|(i, v)| parse(v).map_err(|e| in_ctx(e, &format!("{what} {i}"))))
            .collect()
    }

    fn usizes(&self, k: &str) -> Result<Vec<usize>> {
        self.list(k)?
            .iter()
            .map(|v| v.as_u64().map(|u| u as usize))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.bad(k, "a list of non-negative integers"))
    }

    fn ints(&self, k: &str) -> Result<Vec<i64>> {
        self.list(k)?
            .iter()
            .map(|v| v.as_i64())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.bad(k, "a list of integers"))
    }

    fn f64(&self, k: &str) -> Result<f64> {
        float(self.get(k)?).ok_or_else(|| self.bad(k, "a number"))
    }

    fn f32_opt(&self, k: &str) -> Result<Option<f32>> {
        match self.map.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => float(v)
                .map(|f| Some(f as f32))
                .ok_or_else(|| self.bad(k, "a number or null")),
        }
    }
}

fn float(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// The single `{"kind": {...}}` entry of a tagged object.
fn tagged<'a>(v: &'a Json, what: &str) -> Result<(&'a str, &'a Json)> {
    match v {
        Json::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("one entry");
            Ok((k.as_str(), inner))
        }
        _ => Err(corrupt(format!("{what} must be an object with one entry"))),
    }
}

fn node_from_json(v: &Json) -> Result<NodeDoc> {
    let (tag, inner) = tagged(v, "a node")?;
    let o = Obj::new(inner, tag)?;
    Ok(match tag {
        "placeholder" => {
            let shape = o
                .list("shape")?
                .iter()
                .map(|d| match d {
                    Json::Null => Ok(None),
                    _ => d
                        .as_u64()
                        .map(|u| Some(u as usize))
                        .ok_or_else(|| o.bad("shape", "a list of sizes or nulls")),
                })
                .collect::<Result<Shape>>()?;
            NodeDoc::Placeholder {
                name: o.str("name")?.to_string(),
                dtype: DType::parse(o.str("dtype")?)
                    .map_err(|e| corrupt(format!("placeholder dtype: {e}")))?,
                shape,
            }
        }
        "variable" => NodeDoc::Variable {
            name: o.str("name")?.to_string(),
            index: o.usize("index")?,
        },
        "constant" => NodeDoc::Constant {
            name: o.str("name")?.to_string(),
            index: o.usize("index")?,
        },
        "op" => {
            let attrs = match o.get("attrs")? {
                Json::Object(m) => m
                    .iter()
                    .map(|(k, a)| {
                        attr_from_json(a)
                            .map(|a| (k.clone(), a))
                            .ok_or_else(|| corrupt(format!("argument '{k}' is malformed")))
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(o.bad("attrs", "an object")),
            };
            NodeDoc::Op {
                op: o.str("name")?.to_string(),
                inputs: o.usizes("inputs")?,
                attrs,
            }
        }
        "gradient" => NodeDoc::Gradient {
            loss: o.usize("loss")?,
            wrt: o.usize("wrt")?,
        },
        other => return Err(corrupt(format!("unknown node kind '{other}'"))),
    })
}

fn attr_from_json(v: &Json) -> Option<Attr> {
    if v.is_null() {
        return Some(Attr::None);
    }
    let (tag, inner) = tagged(v, "an argument").ok()?;
    Some(match tag {
        "bool" => Attr::Bool(inner.as_bool()?),
        "int" => Attr::Int(inner.as_i64()?),
        "float" => Attr::Float(float(inner)?),
        "str" => Attr::Str(inner.as_str()?.to_string()),
        "ints" => Attr::Ints(
            inner
                .as_array()?
                .iter()
                .map(|x| x.as_i64())
                .collect::<Option<_>>()?,
        ),
        "floats" => Attr::Floats(inner.as_array()?.iter().map(float).collect::<Option<_>>()?),
        _ => return None,
    })
}

fn update_from_json(v: &Json) -> Result<UpdateDoc> {
    let (tag, inner) = tagged(v, "an update")?;
    let o = Obj::new(inner, tag)?;
    Ok(match tag {
        "assign" => UpdateDoc::Assign {
            variable: o.usize("variable")?,
            value: o.usize("value")?,
        },
        "optimizer" => {
            let k = Obj::new(o.get("kind")?, "the optimizer kind")?;
            let kind = match k.str("name")? {
                "SGD" => OptimizerKind::Sgd {
                    nesterov: k.bool("nesterov")?,
                },
                "RMSprop" => OptimizerKind::RMSprop,
                "Adagrad" => OptimizerKind::Adagrad,
                "Adadelta" => OptimizerKind::Adadelta,
                "Adam" => OptimizerKind::Adam,
                "Adamax" => OptimizerKind::Adamax,
                "Nadam" => OptimizerKind::Nadam {
                    schedule_decay: k.f64("schedule_decay")? as f32,
                },
                other => return Err(corrupt(format!("unknown optimizer '{other}'"))),
            };
            let slots = o
                .list("slots")?
                .iter()
                .map(|s| {
                    s.as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|x| x.as_u64().map(|u| u as usize))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| o.bad("slots", "a list of lists of node indices"))
                })
                .collect::<Result<_>>()?;
            let hyper = match o.get("hyper")? {
                Json::Object(m) => m
                    .iter()
                    .map(|(name, n)| {
                        n.as_u64()
                            .map(|u| (name.clone(), u as usize))
                            .ok_or_else(|| o.bad("hyper", "an object of node indices"))
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(o.bad("hyper", "an object")),
            };
            let constraints = o
                .list("constraints")?
                .iter()
                .map(constraint_from_json)
                .collect::<Result<_>>()?;
            UpdateDoc::Optimizer(OptimizerDoc {
                kind,
                params: o.usizes("params")?,
                gradients: o.usizes("gradients")?,
                slots,
                hyper,
                epsilon: o.f64("epsilon")? as f32,
                clipnorm: o.f32_opt("clipnorm")?,
                clipvalue: o.f32_opt("clipvalue")?,
                constraints,
            })
        }
        other => return Err(corrupt(format!("unknown update kind '{other}'"))),
    })
}

fn constraint_from_json(v: &Json) -> Result<Option<Constraint>> {
    if v.is_null() {
        return Ok(None);
    }
    let o = Obj::new(v, "a constraint")?;
    Ok(Some(match o.str("name")? {
        "nonneg" => Constraint::NonNeg,
        "maxnorm" => Constraint::MaxNorm {
            m: o.f64("m")? as f32,
            axis: o.ints("axis")?,
        },
        "unitnorm" => Constraint::UnitNorm {
            axis: o.ints("axis")?,
        },
        "minmaxnorm" => Constraint::MinMaxNorm {
            low: o.f64("low")? as f32,
            high: o.f64("high")? as f32,
            rate: o.f64("rate")? as f32,
            axis: o.ints("axis")?,
        },
        other => return Err(corrupt(format!("unknown constraint '{other}'"))),
    }))
}
