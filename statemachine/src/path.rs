//! JSONPath as Step Functions evaluates it: the Jayway dialect.
//!
//! A *definite* path (only names and indexes) yields one value or fails; an indefinite path
//! (wildcard, slice, filter, deep scan, union) yields the list of its matches, possibly empty.

use serde_json::{Map, Number, Value};

/// A path that could not be parsed or did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("Invalid path '{path}': {reason}")]
    Syntax { path: String, reason: String },
    /// Jayway's message, e.g. `No results for path: $['a']`.
    #[error("{0}")]
    NotFound(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Name(String),
    Index(i64),
    Wildcard,
    DeepScan(Box<Segment>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<Segment>),
    Filter(Expr),
    Function(String),
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    /// `$$` (the context object) rather than `$`.
    pub context: bool,
    segments: Vec<Segment>,
}

impl JsonPath {
    /// Parses `$...` or `$$...`.
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let mut p = Parser {
            src: text.as_bytes(),
            text,
            pos: 0,
        };
        p.parse_path()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// True if the path selects at most one node by name/index only.
    pub fn is_definite(&self) -> bool {
        self.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Name(_) | Segment::Index(_) | Segment::Function(_)
            )
        })
    }

    /// True for a Reference Path (names and indexes only), as `ResultPath` requires.
    pub fn is_reference(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)))
    }

    /// Evaluates against `root` (the document `$` or `$$` stands for).
    pub fn select(&self, root: &Value) -> Result<Value, PathError> {
        if self.is_definite() {
            self.select_definite(root)
        } else {
            let mut out = Vec::new();
            collect(&self.segments, root, root, &mut out);
            Ok(Value::Array(out))
        }
    }

    fn select_definite(&self, root: &Value) -> Result<Value, PathError> {
        let mut cur = root;
        let mut walked = String::from("$");
        let n = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            let is_leaf = i + 1 == n;
            match seg {
                Segment::Name(name) => {
                    walked.push_str(&format!("['{name}']"));
                    match cur {
                        Value::Object(map) => match map.get(name) {
                            Some(v) => cur = v,
                            None if is_leaf => {
                                return Err(PathError::NotFound(format!(
                                    "No results for path: {walked}"
                                )));
                            }
                            None => {
                                return Err(PathError::NotFound(format!(
                                    "Missing property in path {walked}"
                                )));
                            }
                        },
                        _ => {
                            return Err(PathError::NotFound(format!(
                                "Expected to find an object with property {walked} in path {} but found '{}'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonProvider'.",
                                walked.rsplit_once('[').map(|(a, _)| a).unwrap_or("$"),
                                java_class(cur)
                            )));
                        }
                    }
                }
                Segment::Index(idx) => {
                    walked.push_str(&format!("[{idx}]"));
                    let found = cur.as_array().and_then(|a| {
                        let i = if *idx < 0 { a.len() as i64 + idx } else { *idx };
                        usize::try_from(i).ok().and_then(|i| a.get(i))
                    });
                    match found {
                        Some(v) => cur = v,
                        None => {
                            return Err(PathError::NotFound(format!(
                                "No results for path: {walked}"
                            )));
                        }
                    }
                }
                Segment::Function(f) => {
                    return apply_function(f, cur).ok_or_else(|| {
                        PathError::NotFound(format!("Function {f} can not be applied at {walked}"))
                    });
                }
                _ => unreachable_segment()?,
            }
        }
        Ok(cur.clone())
    }

    /// Writes `value` at this reference path inside `target`, creating objects on the way
    /// (ResultPath semantics). `$` replaces the whole document.
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), PathError> {
        let mut cur = target;
        for seg in &self.segments {
            cur = match seg {
                Segment::Name(name) => {
                    if !cur.is_object() {
                        *cur = Value::Object(Map::new());
                    }
                    let Value::Object(map) = cur else {
                        return unreachable_segment();
                    };
                    map.entry(name.clone()).or_insert(Value::Null)
                }
                Segment::Index(idx) => {
                    let Some(arr) = cur.as_array_mut() else {
                        return Err(PathError::NotFound(format!(
                            "Unable to set index [{idx}] in {}: not an array",
                            self.text
                        )));
                    };
                    let len = arr.len() as i64;
                    let i = if *idx < 0 { len + idx } else { *idx };
                    match usize::try_from(i).ok().and_then(|i| arr.get_mut(i)) {
                        Some(v) => v,
                        None => {
                            return Err(PathError::NotFound(format!(
                                "Index [{idx}] out of bounds in {}",
                                self.text
                            )));
                        }
                    }
                }
                _ => {
                    return Err(PathError::Syntax {
                        path: self.text.clone(),
                        reason: "not a reference path".into(),
                    });
                }
            };
        }
        *cur = value;
        Ok(())
    }
}

fn unreachable_segment<T>() -> Result<T, PathError> {
    Err(PathError::NotFound("unexpected path segment".into()))
}

/// The Java class name Jayway reports for a JSON value.
fn java_class(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(_) => "java.lang.Integer",
        Value::String(_) => "java.lang.String",
        Value::Array(_) => "net.minidev.json.JSONArray",
        Value::Object(_) => "java.util.LinkedHashMap",
    }
}

fn collect(segs: &[Segment], root: &Value, cur: &Value, out: &mut Vec<Value>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(cur.clone());
        return;
    };
    match first {
        Segment::Name(name) => {
            if let Some(v) = cur.as_object().and_then(|m| m.get(name)) {
                collect(rest, root, v, out);
            }
        }
        Segment::Index(idx) => {
            if let Some(a) = cur.as_array() {
                let i = if *idx < 0 { a.len() as i64 + idx } else { *idx };
                if let Some(v) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    collect(rest, root, v, out);
                }
            }
        }
        Segment::Wildcard => match cur {
            Value::Array(a) => a.iter().for_each(|v| collect(rest, root, v, out)),
            Value::Object(m) => m.values().for_each(|v| collect(rest, root, v, out)),
            _ => {}
        },
        Segment::Slice(start, end, step) => {
            if let Some(a) = cur.as_array() {
                for i in slice_indexes(a.len(), *start, *end, *step) {
                    collect(rest, root, &a[i], out);
                }
            }
        }
        Segment::Union(parts) => {
            for part in parts {
                let mut tmp = Vec::new();
                collect(std::slice::from_ref(part), root, cur, &mut tmp);
                for v in tmp {
                    collect(rest, root, &v, out);
                }
            }
        }
        Segment::Filter(expr) => match cur {
            Value::Array(a) => {
                for v in a {
                    if expr.truthy(root, v) {
                        collect(rest, root, v, out);
                    }
                }
            }
            Value::Object(_) if expr.truthy(root, cur) => {
                collect(rest, root, cur, out);
            }
            _ => {}
        },
        Segment::DeepScan(inner) => {
            let mut nodes = Vec::new();
            descendants(cur, &mut nodes);
            for node in nodes {
                let mut tmp = Vec::new();
                collect(std::slice::from_ref(inner), root, node, &mut tmp);
                for v in tmp {
                    collect(rest, root, &v, out);
                }
            }
        }
        Segment::Function(f) => {
            // A function on an indefinite path applies to the whole result.
            if let Some(v) = apply_function(f, cur) {
                out.push(v);
            }
        }
    }
}

fn descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        Value::Object(m) => m.values().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn slice_indexes(
    len: usize,
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
) -> Vec<usize> {
    let len = len as i64;
    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
    let s = start.map(norm).unwrap_or(0);
    let e = end.map(norm).unwrap_or(len);
    let step = step.unwrap_or(1).max(1);
    let mut out = Vec::new();
    let mut i = s;
    while i < e {
        out.push(i as usize);
        i += step;
    }
    out
}

fn apply_function(name: &str, v: &Value) -> Option<Value> {
    let nums = || -> Option<Vec<f64>> { v.as_array()?.iter().map(Value::as_f64).collect() };
    match name {
        "length" | "size" => match v {
            Value::Array(a) => Some(Value::from(a.len())),
            Value::Object(m) => Some(Value::from(m.len())),
            Value::String(s) => Some(Value::from(s.chars().count())),
            _ => None,
        },
        "min" => nums()?.into_iter().reduce(f64::min).and_then(float),
        "max" => nums()?.into_iter().reduce(f64::max).and_then(float),
        "sum" => float(nums()?.into_iter().sum()),
        "avg" => {
            let n = nums()?;
            if n.is_empty() {
                return None;
            }
            float(n.iter().sum::<f64>() / n.len() as f64)
        }
        "keys" => Some(Value::Array(
            v.as_object()?.keys().cloned().map(Value::String).collect(),
        )),
        "first" => v.as_array()?.first().cloned(),
        "last" => v.as_array()?.last().cloned(),
        _ => None,
    }
}

fn float(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// A filter expression `?( ... )`.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Box<Operand>, CmpOp, Box<Operand>),
    Exists(Box<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Root(Vec<Segment>),
    Literal(Value),
    Regex(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    In,
    Nin,
}

impl Operand {
    fn eval<'a>(&'a self, root: &'a Value, cur: &'a Value) -> Option<Value> {
        match self {
            Operand::Current(segs) => eval_sub(segs, root, cur),
            Operand::Root(segs) => eval_sub(segs, root, root),
            Operand::Literal(v) => Some(v.clone()),
            Operand::Regex(r) => Some(Value::String(r.clone())),
        }
    }
}

fn eval_sub(segs: &[Segment], root: &Value, start: &Value) -> Option<Value> {
    let definite = segs.iter().all(|s| {
        matches!(
            s,
            Segment::Name(_) | Segment::Index(_) | Segment::Function(_)
        )
    });
    let mut out = Vec::new();
    collect(segs, root, start, &mut out);
    if definite {
        out.into_iter().next()
    } else {
        Some(Value::Array(out))
    }
}

impl Expr {
    fn truthy(&self, root: &Value, cur: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.truthy(root, cur) || b.truthy(root, cur),
            Expr::And(a, b) => a.truthy(root, cur) && b.truthy(root, cur),
            Expr::Not(e) => !e.truthy(root, cur),
            Expr::Exists(op) => match op.eval(root, cur) {
                Some(Value::Bool(b)) => b,
                Some(_) => true,
                None => false,
            },
            Expr::Cmp(l, op, r) => {
                let (Some(lv), Some(rv)) = (l.eval(root, cur), r.eval(root, cur)) else {
                    return false;
                };
                compare(&lv, *op, &rv, r)
            }
        }
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value, r_operand: &Operand) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal) || (ord.is_none() && l == r),
        CmpOp::Ne => !(ord == Some(Ordering::Equal) || (ord.is_none() && l == r)),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Match => {
            let Operand::Regex(pattern) = r_operand else {
                return false;
            };
            let Value::String(s) = l else { return false };
            regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(s))
        }
        CmpOp::In => r
            .as_array()
            .is_some_and(|a| a.iter().any(|x| values_equal(l, x))),
        CmpOp::Nin => r
            .as_array()
            .is_some_and(|a| !a.iter().any(|x| values_equal(l, x))),
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, reason: &str) -> Result<T, PathError> {
        Err(PathError::Syntax {
            path: self.text.to_string(),
            reason: format!("{reason} at position {}", self.pos),
        })
    }

    /// `text[a..b]`, or "" when that is not a character range (malformed input).
    fn slice(&self, a: usize, b: usize) -> &'a str {
        self.text.get(a..b).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn parse_path(&mut self) -> Result<JsonPath, PathError> {
        if !self.eat(b'$') {
            return self.err("a path must start with '$'");
        }
        let context = self.eat(b'$');
        let segments = self.parse_segments(false)?;
        if self.pos != self.src.len() {
            return self.err("unexpected character");
        }
        Ok(JsonPath {
            text: self.text.to_string(),
            context,
            segments,
        })
    }

    /// Segments until the end, or (inside a filter) until an operator or `)`.
    fn parse_segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, PathError> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    if self.eat(b'.') {
                        let inner = if self.peek() == Some(b'[') {
                            self.pos += 1;
                            self.parse_bracket()?
                        } else if self.eat(b'*') {
                            Segment::Wildcard
                        } else {
                            Segment::Name(self.parse_name(in_filter)?)
                        };
                        segs.push(Segment::DeepScan(Box::new(inner)));
                    } else if self.eat(b'*') {
                        segs.push(Segment::Wildcard);
                    } else {
                        let name = self.parse_name(in_filter)?;
                        if self.src[self.pos..].starts_with(b"()") {
                            self.pos += 2;
                            segs.push(Segment::Function(name));
                        } else {
                            segs.push(Segment::Name(name));
                        }
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    segs.push(self.parse_bracket()?);
                }
                _ => return Ok(segs),
            }
        }
    }

    fn parse_name(&mut self, in_filter: bool) -> Result<String, PathError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let stop = c == b'.'
                || c == b'['
                || (c == b'(' && self.src[self.pos..].starts_with(b"()"))
                || (in_filter
                    && matches!(c, b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|'));
            if stop {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return self.err("empty property name");
        }
        Ok(self.slice(start, self.pos).to_string())
    }

    fn parse_bracket(&mut self) -> Result<Segment, PathError> {
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                if !self.eat(b'(') {
                    return self.err("expected '(' after '?'");
                }
                let e = self.parse_or()?;
                self.skip_ws();
                if !self.eat(b')') {
                    return self.err("expected ')' closing the filter");
                }
                Segment::Filter(e)
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![Segment::Name(self.parse_quoted()?)];
                self.skip_ws();
                while self.eat(b',') {
                    self.skip_ws();
                    names.push(Segment::Name(self.parse_quoted()?));
                    self.skip_ws();
                }
                if names.len() == 1 {
                    names.remove(0)
                } else {
                    Segment::Union(names)
                }
            }
            _ => self.parse_index_or_slice()?,
        };
        self.skip_ws();
        if !self.eat(b']') {
            return self.err("expected ']'");
        }
        Ok(seg)
    }

    fn parse_quoted(&mut self) -> Result<String, PathError> {
        let Some(q) = self.peek() else {
            return self.err("expected a quoted name");
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated string"),
                // The Jayway version AWS runs keeps escapes as written: a backslash only stops
                // the next character from closing the name (`['a\'b']` is the member `a\'b`).
                Some(b'\\') => {
                    self.pos += 1;
                    match self.text.get(self.pos..).and_then(|r| r.chars().next()) {
                        Some(ch) => {
                            out.push('\\');
                            out.push(ch);
                            self.pos += ch.len_utf8();
                        }
                        None => return self.err("unterminated escape"),
                    }
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => match self.text.get(self.pos..).and_then(|r| r.chars().next()) {
                    Some(ch) => {
                        out.push(ch);
                        self.pos += ch.len_utf8();
                    }
                    None => return self.err("invalid character"),
                },
            }
        }
    }

    fn parse_int(&mut self) -> Option<i64> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let s = self.slice(start, self.pos);
        if s.is_empty() || s == "-" {
            self.pos = start;
            return None;
        }
        let n = s.parse().ok();
        self.skip_ws();
        n
    }

    fn parse_index_or_slice(&mut self) -> Result<Segment, PathError> {
        let first = self.parse_int();
        if self.eat(b':') {
            let end = self.parse_int();
            let step = if self.eat(b':') {
                self.parse_int()
            } else {
                None
            };
            return Ok(Segment::Slice(first, end, step));
        }
        let Some(first) = first else {
            return self.err("expected an index, a slice, '*', a name or a filter");
        };
        let mut idx = vec![Segment::Index(first)];
        while self.eat(b',') {
            match self.parse_int() {
                Some(i) => idx.push(Segment::Index(i)),
                None => return self.err("expected an index"),
            }
        }
        Ok(if idx.len() == 1 {
            idx.remove(0)
        } else {
            Segment::Union(idx)
        })
    }

    fn parse_or(&mut self) -> Result<Expr, PathError> {
        let mut left = self.parse_and()?;
        loop {
            self.skip_ws();
            if self.src[self.pos..].starts_with(b"||") {
                self.pos += 2;
                let right = self.parse_and()?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn parse_and(&mut self) -> Result<Expr, PathError> {
        let mut left = self.parse_unary()?;
        loop {
            self.skip_ws();
            if self.src[self.pos..].starts_with(b"&&") {
                self.pos += 2;
                let right = self.parse_unary()?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn parse_unary(&mut self) -> Result<Expr, PathError> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.src.get(self.pos + 1) != Some(&b'=') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.parse_unary()?)));
        }
        if self.eat(b'(') {
            let e = self.parse_or()?;
            self.skip_ws();
            if !self.eat(b')') {
                return self.err("expected ')'");
            }
            return Ok(e);
        }
        let left = self.parse_operand()?;
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let ops: [(&[u8], CmpOp); 10] = [
            (b"==", CmpOp::Eq),
            (b"!=", CmpOp::Ne),
            (b"<=", CmpOp::Le),
            (b">=", CmpOp::Ge),
            (b"=~", CmpOp::Match),
            (b"<", CmpOp::Lt),
            (b">", CmpOp::Gt),
            (b"nin ", CmpOp::Nin),
            (b"in ", CmpOp::In),
            (b"===", CmpOp::Eq),
        ];
        for (tok, op) in ops {
            if rest.starts_with(tok) {
                self.pos += tok.len();
                if op == CmpOp::Eq && self.peek() == Some(b'=') {
                    self.pos += 1;
                }
                self.skip_ws();
                let right = if op == CmpOp::Match {
                    self.parse_regex()?
                } else {
                    self.parse_operand()?
                };
                return Ok(Expr::Cmp(Box::new(left), op, Box::new(right)));
            }
        }
        Ok(Expr::Exists(Box::new(left)))
    }

    fn parse_regex(&mut self) -> Result<Operand, PathError> {
        if !self.eat(b'/') {
            return self.err("expected a /regex/");
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                self.pos += 1;
                self.pos += self
                    .text
                    .get(self.pos..)
                    .and_then(|r| r.chars().next())
                    .map_or(1, char::len_utf8);
                continue;
            }
            if c == b'/' {
                break;
            }
            self.pos += 1;
        }
        let body = self
            .text
            .get(start..self.pos)
            .unwrap_or_default()
            .to_string();
        if !self.eat(b'/') {
            return self.err("unterminated regex");
        }
        let mut flags = String::new();
        while let Some(c @ (b'i' | b'm' | b's' | b'x')) = self.peek() {
            flags.push(c as char);
            self.pos += 1;
        }
        Ok(Operand::Regex(if flags.is_empty() {
            body
        } else {
            format!("(?{flags}){body}")
        }))
    }

    fn parse_operand(&mut self) -> Result<Operand, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                Ok(Operand::Current(self.parse_segments(true)?))
            }
            Some(b'$') => {
                self.pos += 1;
                Ok(Operand::Root(self.parse_segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.parse_quoted()?))),
            Some(b'[') => {
                let start = self.pos;
                let mut depth = 0;
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                let text = self.slice(start, self.pos).replace('\'', "\"");
                match serde_json::from_str(&text) {
                    Ok(v) => Ok(Operand::Literal(v)),
                    Err(_) => self.err("bad array literal"),
                }
            }
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.' | b'_') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                let word = self.slice(start, self.pos);
                match serde_json::from_str::<Value>(word) {
                    Ok(v) if !word.is_empty() => Ok(Operand::Literal(v)),
                    _ => self.err("expected an operand"),
                }
            }
        }
    }
}

/// Evaluates a path string against a value (`$`) and a context object (`$$`).
pub fn evaluate(path: &str, input: &Value, context: &Value) -> Result<Value, PathError> {
    let p = JsonPath::parse(path)?;
    if p.context {
        p.select(context)
    } else {
        p.select(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, v: &Value) -> Result<Value, PathError> {
        JsonPath::parse(path).unwrap().select(v)
    }

    #[test]
    fn definite_paths_select_one_value() {
        let v = json!({"a": {"b": [10, 20, {"c": "x"}]}, "k-1": 1});
        assert_eq!(sel("$", &v).unwrap(), v);
        assert_eq!(sel("$.a.b[1]", &v).unwrap(), json!(20));
        assert_eq!(sel("$.a.b[-1].c", &v).unwrap(), json!("x"));
        assert_eq!(sel("$['a']['b'][0]", &v).unwrap(), json!(10));
        assert_eq!(sel("$.k-1", &v).unwrap(), json!(1));
        assert_eq!(sel("$.a.b.length()", &v).unwrap(), json!(3));
    }

    #[test]
    fn missing_definite_paths_report_jayway_messages() {
        let v = json!({"a": 1});
        assert_eq!(
            sel("$.NoSuch", &v).unwrap_err().to_string(),
            "No results for path: $['NoSuch']"
        );
        assert_eq!(
            sel("$.x.y", &v).unwrap_err().to_string(),
            "Missing property in path $['x']"
        );
        assert!(sel("$.items[10]", &json!({"items": [1]})).is_err());
    }

    #[test]
    fn indefinite_paths_return_lists() {
        let v = json!({"items": [{"v": 1}, {"v": 2}, {"v": 3}]});
        assert_eq!(sel("$.items[*].v", &v).unwrap(), json!([1, 2, 3]));
        assert_eq!(sel("$.items[1:].v", &v).unwrap(), json!([2, 3]));
        assert_eq!(sel("$.items[:1]", &v).unwrap(), json!([{"v": 1}]));
        assert_eq!(sel("$..v", &v).unwrap(), json!([1, 2, 3]));
        assert_eq!(sel("$.missing[*]", &v).unwrap(), json!([]));
        assert_eq!(sel("$.items[0,2].v", &v).unwrap(), json!([1, 3]));
    }

    #[test]
    fn filters_compare_and_match() {
        let v = json!({"users": [{"year": 1997, "status": 0, "n": "ab"}, {"year": 1998, "status": 1, "n": "cd"}]});
        assert_eq!(
            sel("$.users[?(@.status == 0)]", &v).unwrap(),
            json!([{"year": 1997, "status": 0, "n": "ab"}])
        );
        assert_eq!(
            sel("$.users[?(@.year > 1997)].n", &v).unwrap(),
            json!(["cd"])
        );
        assert_eq!(
            sel("$.users[?(@.n =~ /a.*/)].year", &v).unwrap(),
            json!([1997])
        );
        assert_eq!(
            sel("$.users[?(@.status == 1 || @.year < 1990)].n", &v).unwrap(),
            json!(["cd"])
        );
        assert_eq!(
            sel("$.users[?(@.n in ['cd'])].year", &v).unwrap(),
            json!([1998])
        );
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut v = json!({"a": 1});
        JsonPath::parse("$.b.c")
            .unwrap()
            .set(&mut v, json!(2))
            .unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": 2}}));
        JsonPath::parse("$")
            .unwrap()
            .set(&mut v, json!("x"))
            .unwrap();
        assert_eq!(v, json!("x"));
    }

    #[test]
    fn syntax_errors_are_errors() {
        for bad in ["", "a.b", "$.", "$[", "$.a[?(@.x ==)]", "$['a"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        assert!(JsonPath::parse("$$.Execution.Id").unwrap().context);
    }

    #[test]
    fn escapes_in_quoted_names_are_kept_as_written() {
        // AWS's (older) Jayway: the backslash only stops the quote from closing the name.
        let doc = json!({"Test\\\"\"Name\"": "found", "a\\'b": 1});
        assert_eq!(sel(r#"$['Test\""Name"']"#, &doc).unwrap(), json!("found"));
        assert_eq!(sel(r"$['a\'b']", &doc).unwrap(), json!(1));
    }

    #[test]
    fn multibyte_characters_after_escapes_do_not_panic() {
        for text in [
            "$['\\\u{fffd}",
            "$['\\\u{fffd}']",
            "$[?(@.a =~ /\\\u{fffd}/)]",
            "$['T.std\\\u{fffd}\u{fffd}}\\\"}",
        ] {
            let _ = JsonPath::parse(text);
        }
    }
}
