//! JSONata evaluation for `QueryLanguage: JSONata` states, on top of the `jsonata-rs` crate,
//! with the functions AWS Step Functions adds (`$partition`, `$range`, `$hash`, `$parse`;
//! `$uuid` and `$random` come with jsonata-rs).
//!
//! The engine passes the expression (with or without the `{% %}` delimiters) and the variables
//! to bind: `states` → `{input, context, result, errorOutput}` plus the workflow variables.
//! Every failure is a `States.QueryEvaluationError` whose cause is the tail of AWS's sentence
//! "The JSONata expression '…' specified for the field '…' \<cause\>"; [`JsonataError::state_cause`]
//! builds that sentence.
//!
//! jsonata-rs keeps objects in a hash map, so the key order of constructed objects is lost. To
//! keep outputs stable and close to AWS, `KeyOrder` puts keys back in the order the expression
//! writes them, or the order of an input object with the same keys. Plain variable paths such as
//! `$states.input.a` bypass jsonata-rs entirely and keep the input untouched.

use std::collections::{HashMap, HashSet};

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, FunctionContext, JsonAta, Value as JValue};
use serde_json::{Map, Value};

const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
/// Cause when the expression yields no value (JSON cannot represent `undefined`).
const UNDEFINED_CAUSE: &str = "returned nothing (undefined).";
/// Cause when the expression yields a function.
const UNSUPPORTED_CAUSE: &str = "returned an unsupported result type.";
/// Bracket nesting above this is refused before parsing (see [`on_large_stack`]).
const MAX_NESTING: usize = 100;
/// Operators and path steps per expression; chains of them nest the AST just as deeply.
const MAX_OPERATORS: usize = 2_000;
const EVALUATION_STACK_BYTES: usize = 64 * 1024 * 1024;
/// jsonata-rs' own evaluation depth and time limits.
const MAX_EVAL_DEPTH: usize = 250;
const TIME_LIMIT_MS: usize = 10_000;
const MAX_RANGE_ITEMS: i64 = 1_000;
const MAX_HASH_INPUT: usize = 10_000;

/// A failed JSONata evaluation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct JsonataError {
    pub error: String,
    pub cause: String,
}

impl JsonataError {
    fn new(cause: impl Into<String>) -> Self {
        Self {
            error: QUERY_EVALUATION_ERROR.to_string(),
            cause: cause.into(),
        }
    }

    fn thrown(code: &str, message: &str) -> Self {
        Self::new(format!(
            "threw an error during evaluation. {code}: {message}"
        ))
    }

    /// Whether the expression produced no value. AWS fails the state in that case, with
    /// [`JsonataError::state_cause`] ending in "returned nothing (undefined).".
    pub fn is_undefined(&self) -> bool {
        self.cause == UNDEFINED_CAUSE
    }

    /// AWS's sentence for this failure in a state field, e.g. "The JSONata expression
    /// '$x' specified for the field 'Output/result' returned nothing (undefined)." The engine
    /// prefixes "An error occurred while executing the state '…' (entered at the event id #n). ".
    pub fn state_cause(&self, expression: &str, field: &str) -> String {
        format!(
            "The JSONata expression '{}' specified for the field '{field}' {}",
            strip_delimiters(expression),
            self.cause
        )
    }
}

/// Evaluates a JSONata expression with the given variables (names without the `$`), with
/// `$now()` and `$millis()` at the current system time.
pub fn evaluate(expr: &str, bindings: &Map<String, Value>) -> Result<Value, JsonataError> {
    evaluate_at(expr, bindings, chrono::Utc::now())
}

/// Like [`evaluate`], with `$now()` and `$millis()` answering `now` (the engine passes its
/// clock's time, so a virtual clock drives them too).
pub fn evaluate_at(
    expr: &str,
    bindings: &Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, JsonataError> {
    let expr = strip_delimiters(expr);
    if let Some(value) = variable_path(expr, bindings) {
        return Ok(value);
    }
    check_shape(expr)?;
    let routed = route_aws_functions(expr);
    let millis = now.timestamp_millis();
    let evaluated = on_large_stack(|| {
        NOW_MILLIS.with(|m| m.set(millis));
        evaluate_with_jsonata_rs(&routed, bindings)
    })?;
    let order = KeyOrder::new(expr, bindings);
    Ok(order.apply(evaluated))
}

thread_local! {
    /// `$now()`/`$millis()` of the evaluation running on this thread.
    static NOW_MILLIS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

const SFN_RANDOM: &str = "sfnRandom__";
const SFN_MILLIS: &str = "sfnMillis__";

/// jsonata-rs binds its own `$random`, `$now` and `$millis` after the caller's functions, so
/// calls to them are routed to AWS's versions: `$random([seed])`, and the time functions
/// answering the evaluation's time. String literals are left alone.
fn route_aws_functions(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() + 32);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev: Option<char> = None;
    let mut skip_to = 0usize;
    for (i, c) in expr.char_indices() {
        if i < skip_to {
            continue;
        }
        if let Some(q) = quote {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            prev = Some(c);
            continue;
        }
        let routed = (c == '$' && prev != Some('$'))
            .then(|| routed_call(&expr[i + 1..]))
            .flatten();
        match routed {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                skip_to = i + 1 + consumed;
                prev = Some('(');
            }
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
                prev = Some(c);
            }
        }
    }
    out
}

/// For the text after a `$`: the replacement of a routed call and how many bytes it covers.
fn routed_call(tail: &str) -> Option<(String, usize)> {
    let call = |name: &str| -> Option<usize> {
        let rest = tail.strip_prefix(name)?;
        let spaces = rest.len() - rest.trim_start().len();
        rest.trim_start()
            .starts_with('(')
            .then_some(name.len() + spaces + 1)
    };
    if let Some(n) = call("random") {
        return Some((format!("${SFN_RANDOM}("), n));
    }
    if let Some(n) = call("millis") {
        return Some((format!("${SFN_MILLIS}("), n));
    }
    let n = call("now")?;
    let args = &tail[n..];
    let spaces = args.len() - args.trim_start().len();
    if args.trim_start().starts_with(')') {
        return Some((format!("$fromMillis(${SFN_MILLIS}())"), n + spaces + 1));
    }
    Some((format!("$fromMillis(${SFN_MILLIS}(), "), n))
}

/// jsonata-rs recurses once per AST level when parsing, evaluating and dropping, and a stack
/// overflow aborts the process; a dedicated thread with a generous stack, plus the size limits
/// of [`check_shape`], keeps hostile expressions to an error. A panic inside jsonata-rs (it has
/// a few) becomes an error too.
fn on_large_stack(
    work: impl FnOnce() -> Result<Value, JsonataError> + Send,
) -> Result<Value, JsonataError> {
    let internal =
        |what: &str| JsonataError::thrown("D1000", &format!("internal evaluator failure: {what}"));
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("jsonata".to_string())
            .stack_size(EVALUATION_STACK_BYTES)
            .spawn_scoped(scope, work)
            .map_err(|e| internal(&e.to_string()))?;
        handle.join().unwrap_or_else(|_| {
            tracing::warn!("jsonata-rs panicked");
            Err(internal("panic"))
        })
    })
}

/// `{% expr %}` → `expr`; anything else is taken as the bare expression.
fn strip_delimiters(expr: &str) -> &str {
    let trimmed = expr.trim();
    trimmed
        .strip_prefix("{%")
        .and_then(|s| s.strip_suffix("%}"))
        .unwrap_or(trimmed)
        .trim()
}

/// `$name.field.field` over objects, answered directly so the value keeps its key order. Any
/// other shape (arrays on the way, missing fields, array results) goes to the full evaluator,
/// which owns JSONata's sequence semantics.
fn variable_path(expr: &str, bindings: &Map<String, Value>) -> Option<Value> {
    let mut parts = expr.strip_prefix('$')?.split('.');
    let is_name = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let name = parts.next().filter(|n| is_name(n))?;
    let mut node = bindings.get(name)?;
    for field in parts {
        if !is_name(field) {
            return None;
        }
        node = node.as_object()?.get(field)?;
    }
    (!node.is_array()).then(|| node.clone())
}

/// Refuses expressions deep enough to exhaust the evaluation stack: bracket nesting, and the
/// count of operators and path steps, which bounds the depth of operator chains.
fn check_shape(expr: &str) -> Result<(), JsonataError> {
    let too_deep = || JsonataError::thrown("U1001", "Expression nested too deeply");
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep());
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '.' | '+' | '-' | '*' | '/' | '%' | '&' | '=' | '<' | '>' | '!' | '~' | '?' | '^' => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(too_deep());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn evaluate_with_jsonata_rs(
    expr: &str,
    bindings: &Map<String, Value>,
) -> Result<Value, JsonataError> {
    let arena = Bump::new();
    let jsonata = JsonAta::new(expr, &arena).map_err(|e| from_jsonata_error(&e))?;
    jsonata.register_function("partition", 2, fn_partition);
    jsonata.register_function("range", 3, fn_range);
    jsonata.register_function("hash", 2, fn_hash);
    jsonata.register_function("parse", 1, fn_parse);
    jsonata.register_function(SFN_RANDOM, 1, fn_random);
    jsonata.register_function(SFN_MILLIS, 0, fn_millis);
    for (name, value) in bindings {
        jsonata.assign_var(name, to_jsonata(&arena, value));
    }
    let result = jsonata
        .evaluate_timeboxed(None, Some(MAX_EVAL_DEPTH), Some(TIME_LIMIT_MS))
        .map_err(|e| from_jsonata_error(&e))?;
    if result.is_undefined() {
        return Err(JsonataError::new(UNDEFINED_CAUSE));
    }
    from_jsonata(result)?.ok_or_else(|| JsonataError::new(UNDEFINED_CAUSE))
}

/// jsonata-rs renders errors as `T1006 @ 12: message`; AWS shows `T1006: message`.
fn from_jsonata_error(error: &jsonata_rs::Error) -> JsonataError {
    let code = error.code().to_string();
    let text = error.to_string();
    let after_code = text.strip_prefix(&format!("{code} @ ")).unwrap_or(&text);
    let message = match after_code.split_once(':') {
        Some((position, rest)) if position.chars().all(|c| c.is_ascii_digit()) => rest.trim(),
        _ => after_code.trim(),
    };
    let message = message
        .split_once(' ')
        .filter(|(position, _)| {
            !position.is_empty() && position.chars().all(|c| c.is_ascii_digit())
        })
        .map_or(message, |(_, rest)| rest);
    JsonataError::thrown(&code, message)
}

// ---------------------------------------------------------------------------------------------
// Value conversion

fn to_jsonata<'a>(arena: &'a Bump, value: &Value) -> &'a JValue<'a> {
    match value {
        Value::Null => JValue::null(arena),
        Value::Bool(b) => JValue::bool(*b),
        Value::Number(n) => JValue::number(arena, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JValue::string(arena, s),
        Value::Array(items) => {
            let array = JValue::array_with_capacity(arena, items.len(), ArrayFlags::empty());
            for item in items {
                array.push(to_jsonata(arena, item));
            }
            array
        }
        Value::Object(map) => {
            let object = JValue::object_with_capacity(arena, map.len());
            for (k, v) in map {
                object.insert(k, to_jsonata(arena, v));
            }
            object
        }
    }
}

/// `None` for `undefined`, which JSON drops from objects and arrays.
fn from_jsonata<'a>(value: &'a JValue<'a>) -> Result<Option<Value>, JsonataError> {
    Ok(Some(match value {
        JValue::Undefined => return Ok(None),
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number_to_json(*n)?,
        JValue::String(s) => Value::String(s.to_string()),
        JValue::Array(..) | JValue::Range(..) => {
            let mut items = Vec::with_capacity(value.len());
            for member in value.members() {
                if let Some(item) = from_jsonata(member)? {
                    items.push(item);
                }
            }
            Value::Array(items)
        }
        JValue::Object(map) => {
            let mut object = Map::new();
            for (k, v) in map.iter() {
                if let Some(item) = from_jsonata(v)? {
                    object.insert(k.to_string(), item);
                }
            }
            Value::Object(object)
        }
        JValue::Regex(_)
        | JValue::Lambda { .. }
        | JValue::NativeFn { .. }
        | JValue::Transformer { .. } => return Err(JsonataError::new(UNSUPPORTED_CAUSE)),
    }))
}

/// JSONata numbers are doubles; integral values print as integers, as `JSON.stringify` does.
fn number_to_json(n: f64) -> Result<Value, JsonataError> {
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    if !n.is_finite() {
        return Err(JsonataError::thrown(
            "D1001",
            &format!("Number out of range: {n}"),
        ));
    }
    if n.fract() == 0.0 && n.abs() < EXACT_INTEGER_LIMIT {
        return Ok(Value::from(n as i64));
    }
    Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
}

// ---------------------------------------------------------------------------------------------
// AWS functions

type JResult<'a> = jsonata_rs::Result<&'a JValue<'a>>;

fn custom_error(context: &FunctionContext<'_, '_>, message: &str) -> jsonata_rs::Error {
    jsonata_rs::Error::D3137Error(format!("{}: {message}", context.name))
}

fn argument<'a>(args: &[&'a JValue<'a>], index: usize) -> &'a JValue<'a> {
    args.get(index).copied().unwrap_or_else(JValue::undefined)
}

fn integer_argument(
    context: &FunctionContext<'_, '_>,
    value: &JValue<'_>,
) -> jsonata_rs::Result<i64> {
    if value.is_number() && value.as_f64().is_finite() && value.as_f64().fract() == 0.0 {
        Ok(value.as_f64() as i64)
    } else {
        Err(custom_error(context, "arguments must be integers"))
    }
}

/// `$partition(array, size)`: consecutive chunks of `size` items (the last may be shorter).
fn fn_partition<'a>(context: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let array = argument(args, 0);
    let size = integer_argument(&context, argument(args, 1))?;
    if size <= 0 {
        return Err(custom_error(&context, "the chunk size must be positive"));
    }
    let items: Vec<&'a JValue<'a>> = match array {
        JValue::Undefined => return Ok(JValue::undefined()),
        JValue::Array(..) | JValue::Range(..) => array.members().collect(),
        single => vec![single],
    };
    let chunk_size = usize::try_from(size).unwrap_or(usize::MAX);
    let result = JValue::array(context.arena, ArrayFlags::empty());
    for chunk in items.chunks(chunk_size) {
        let part = JValue::array_with_capacity(context.arena, chunk.len(), ArrayFlags::empty());
        for item in chunk {
            part.push(item);
        }
        result.push(part);
    }
    Ok(result)
}

/// `$range(start, end, step)`: like `States.ArrayRange`, returned as a JSONata sequence, so a
/// one-item range is the bare number (as AWS returns it).
fn fn_range<'a>(context: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let start = integer_argument(&context, argument(args, 0))?;
    let end = integer_argument(&context, argument(args, 1))?;
    let step = integer_argument(&context, argument(args, 2))?;
    if step == 0 {
        return Err(custom_error(&context, "the step must not be zero"));
    }
    let span = i128::from(end) - i128::from(start);
    let count = if span == 0 || (span > 0) == (step > 0) {
        span / i128::from(step) + 1
    } else {
        0
    };
    if count > i128::from(MAX_RANGE_ITEMS) {
        return Err(custom_error(&context, "the range has more than 1000 items"));
    }
    if count == 0 {
        return Ok(JValue::array(context.arena, ArrayFlags::empty()));
    }
    let result = JValue::array(context.arena, ArrayFlags::SEQUENCE);
    for i in 0..count as i64 {
        result.push(JValue::number(context.arena, (start + i * step) as f64));
    }
    Ok(result)
}

/// `$hash(text, algorithm)` with the algorithms of `States.Hash`.
fn fn_hash<'a>(context: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    use sha2::Digest as _;
    let data = argument(args, 0);
    let algorithm = argument(args, 1);
    if !data.is_string() || !algorithm.is_string() {
        return Err(custom_error(&context, "arguments must be strings"));
    }
    let data = data.as_str();
    if data.encode_utf16().count() > MAX_HASH_INPUT {
        return Err(custom_error(
            &context,
            "the input is longer than 10000 characters",
        ));
    }
    let bytes = data.as_bytes();
    let digest = match algorithm.as_str().as_ref() {
        "MD5" => hex::encode(md5::Md5::digest(bytes)),
        "SHA-1" => hex::encode(sha1::Sha1::digest(bytes)),
        "SHA-256" => hex::encode(sha2::Sha256::digest(bytes)),
        "SHA-384" => hex::encode(sha2::Sha384::digest(bytes)),
        "SHA-512" => hex::encode(sha2::Sha512::digest(bytes)),
        other => {
            return Err(custom_error(
                &context,
                &format!("unsupported hash algorithm '{other}'"),
            ));
        }
    };
    Ok(JValue::string(context.arena, &digest))
}

/// `$random([seed])`: a number in [0, 1); with a seed, always the same one for that seed
/// (Java's `new Random(seed).nextDouble()`).
fn fn_random<'a>(context: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let value = match argument(args, 0) {
        JValue::Undefined => rand::random::<f64>(),
        seed => java_next_double(integer_argument(&context, seed)?),
    };
    Ok(JValue::number(context.arena, value))
}

fn java_next_double(seed: i64) -> f64 {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut state = (seed ^ MULTIPLIER) & MASK;
    let mut next = |bits: u32| {
        state = state.wrapping_mul(MULTIPLIER).wrapping_add(0xB) & MASK;
        state >> (48 - bits)
    };
    let high = next(26);
    let low = next(27);
    ((high << 27) + low) as f64 / (1u64 << 53) as f64
}

/// `$millis()`: the evaluation's time.
fn fn_millis<'a>(context: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    let millis = NOW_MILLIS.with(std::cell::Cell::get);
    Ok(JValue::number(context.arena, millis as f64))
}

/// `$parse(text)`: the JSON value of a JSON text.
fn fn_parse<'a>(context: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let text = argument(args, 0);
    if text.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !text.is_string() {
        return Err(custom_error(&context, "the argument must be a string"));
    }
    let parsed: Value = serde_json::from_str(&text.as_str())
        .map_err(|e| custom_error(&context, &format!("invalid JSON: {e}")))?;
    Ok(to_jsonata(context.arena, &parsed))
}

// ---------------------------------------------------------------------------------------------
// Key order

/// Restores a plausible key order for objects that went through jsonata-rs' hash maps: the
/// order the expression names the keys in, else that of an input object with the same keys,
/// else expression-then-input first appearance, then alphabetical.
struct KeyOrder {
    expression_rank: HashMap<String, usize>,
    input_orders: HashMap<Vec<String>, Vec<String>>,
    global_rank: HashMap<String, usize>,
}

impl KeyOrder {
    fn new(expr: &str, bindings: &Map<String, Value>) -> Self {
        let mut global_rank = HashMap::new();
        let mut expression_rank = HashMap::new();
        for word in expression_words(expr) {
            let next = expression_rank.len();
            expression_rank.entry(word.clone()).or_insert(next);
            let next = global_rank.len();
            global_rank.entry(word).or_insert(next);
        }
        let mut input_orders = HashMap::new();
        for value in bindings.values() {
            collect_input_orders(value, &mut input_orders, &mut global_rank);
        }
        Self {
            expression_rank,
            input_orders,
            global_rank,
        }
    }

    fn apply(&self, value: Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.apply(v)).collect()),
            Value::Object(map) => {
                let order = self.order_for(map.keys().cloned().collect());
                let mut map = map;
                let mut ordered = Map::new();
                for key in order {
                    if let Some(v) = map.remove(&key) {
                        ordered.insert(key, self.apply(v));
                    }
                }
                Value::Object(ordered)
            }
            scalar => scalar,
        }
    }

    fn order_for(&self, mut keys: Vec<String>) -> Vec<String> {
        if keys.iter().all(|k| self.expression_rank.contains_key(k)) {
            keys.sort_by_key(|k| self.expression_rank.get(k).copied());
            return keys;
        }
        let mut sorted = keys.clone();
        sorted.sort();
        if let Some(order) = self.input_orders.get(&sorted) {
            return order.clone();
        }
        keys.sort_by(|a, b| {
            let rank = |k: &String| self.global_rank.get(k).copied().unwrap_or(usize::MAX);
            rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
        });
        keys
    }
}

fn collect_input_orders(
    value: &Value,
    orders: &mut HashMap<Vec<String>, Vec<String>>,
    global_rank: &mut HashMap<String, usize>,
) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in &keys {
                let next = global_rank.len();
                global_rank.entry(key.clone()).or_insert(next);
            }
            let mut sorted = keys.clone();
            sorted.sort();
            orders.entry(sorted).or_insert(keys);
            for v in map.values() {
                collect_input_orders(v, orders, global_rank);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_input_orders(item, orders, global_rank);
            }
        }
        _ => {}
    }
}

/// Names and string literals of an expression, in order of appearance.
fn expression_words(expr: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut seen = HashSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let (word, next) = if matches!(c, '"' | '\'' | '`') {
            let mut word = String::new();
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' {
                    j += 1;
                }
                if let Some(ch) = chars.get(j) {
                    word.push(*ch);
                }
                j += 1;
            }
            (word, j + 1)
        } else if c.is_alphanumeric() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            (chars[i..j].iter().collect(), j)
        } else {
            i += 1;
            continue;
        };
        if seen.insert(word.clone()) {
            words.push(word);
        }
        i = next;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn states(input: Value) -> Map<String, Value> {
        let mut bindings = Map::new();
        bindings.insert(
            "states".to_string(),
            json!({"input": input, "context": {"Execution": {"Id": "arn:exec"}}}),
        );
        bindings
    }

    fn eval(expr: &str, bindings: &Map<String, Value>) -> Result<Value, JsonataError> {
        evaluate(expr, bindings)
    }

    fn ok(expr: &str, bindings: &Map<String, Value>) -> Value {
        match eval(expr, bindings) {
            Ok(v) => v,
            Err(e) => panic!("{expr}: {e}"),
        }
    }

    fn err(expr: &str, bindings: &Map<String, Value>) -> JsonataError {
        match eval(expr, bindings) {
            Ok(v) => panic!("{expr} unexpectedly gave {v}"),
            Err(e) => e,
        }
    }

    fn fi(fst: Value, snd: Value, trd: Value) -> Map<String, Value> {
        states(json!({"FunctionInput": {"fst": fst, "snd": snd, "trd": trd}}))
    }

    // --- intrinsic_functions/*_jsonata snapshots ---

    #[test]
    fn partition_snapshot_cases() {
        let expr =
            "{% $partition($states.input.FunctionInput.fst, $states.input.FunctionInput.snd) %}";
        for len in 1..=4u64 {
            let array: Vec<u64> = (0..len).collect();
            for size in 1..=5u64 {
                let expected: Vec<Vec<u64>> =
                    array.chunks(size as usize).map(|c| c.to_vec()).collect();
                assert_eq!(
                    ok(expr, &fi(json!(array), json!(size), json!(null))),
                    json!(expected),
                    "{array:?} by {size}"
                );
            }
        }
    }

    #[test]
    fn range_snapshot_cases() {
        let expr = "{% $range($states.input.FunctionInput.fst, $states.input.FunctionInput.snd, $states.input.FunctionInput.trd) %}";
        let cases = [
            ((0, 9, 3), json!([0, 3, 6, 9])),
            ((0, 10, 3), json!([0, 3, 6, 9])),
            ((1, 9, 9), json!(1)),
            ((1, 9, 2), json!([1, 3, 5, 7, 9])),
        ];
        for ((a, b, c), expected) in cases {
            assert_eq!(ok(expr, &fi(json!(a), json!(b), json!(c))), expected);
        }
        assert_eq!(ok("$range(5, 1, -2)", &Map::new()), json!([5, 3, 1]));
        assert!(eval("$range(1, 5, 0)", &Map::new()).is_err());
        assert!(eval("$range(1, 5000, 1)", &Map::new()).is_err());
    }

    #[test]
    fn parse_snapshot_cases() {
        let expr = "{% $parse($states.input.FunctionInput) %}";
        let cases = [
            ("-0", json!(0)),
            ("1", json!(1)),
            ("1.1", json!(1.1)),
            ("true", json!(true)),
            ("\"HelloWorld\"", json!("HelloWorld")),
            ("[1, 2, \"HelloWorld\"]", json!([1, 2, "HelloWorld"])),
            (
                "{\"Arg1\": 1, \"Arg2\": []}",
                json!({"Arg1": 1, "Arg2": []}),
            ),
        ];
        for (text, expected) in cases {
            let out = ok(expr, &states(json!({"FunctionInput": text})));
            assert_eq!(out, expected, "{text}");
            assert_eq!(out.is_f64(), expected.is_f64(), "{text} number type");
        }
        let e = err("$parse('{bad')", &Map::new());
        assert!(
            e.cause
                .starts_with("threw an error during evaluation. D3137:"),
            "{}",
            e.cause
        );
    }

    #[test]
    fn unknown_function_is_t1006_like_aws() {
        let e = err(
            "{% $randomSeeded($states.input.FunctionInput.fst) %}",
            &states(json!({"FunctionInput": "fst"})),
        );
        assert_eq!(e.error, "States.QueryEvaluationError");
        assert_eq!(
            e.state_cause(
                "{% $randomSeeded($states.input.FunctionInput.fst) %}",
                "Output/FunctionResult"
            ),
            "The JSONata expression '$randomSeeded($states.input.FunctionInput.fst)' specified for the field 'Output/FunctionResult' threw an error during evaluation. T1006: Attempted to invoke a non-function"
        );
    }

    #[test]
    fn hash_uuid_and_random() {
        assert_eq!(
            ok("$hash('input data', 'SHA-256')", &Map::new()),
            json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
        );
        assert_eq!(
            ok("$hash('hello', 'MD5')", &Map::new()),
            json!("5d41402abc4b2a76b9719d911017c592")
        );
        assert!(eval("$hash('hello', 'sha-256')", &Map::new()).is_err());
        let uuid = ok("$uuid()", &Map::new());
        assert_eq!(uuid.as_str().map(str::len), Some(36));
        let r = ok("$random()", &Map::new()).as_f64().unwrap_or(-1.0);
        assert!((0.0..1.0).contains(&r));
    }

    #[test]
    fn random_takes_an_optional_seed() {
        let none = Map::new();
        let seeded = ok("$random(42)", &none);
        assert_eq!(seeded, ok("$random(42)", &none));
        assert_ne!(seeded, ok("$random(43)", &none));
        // Java: new Random(42).nextDouble()
        assert_eq!(seeded, json!(0.7275636800328681));
        let r = ok("$random()", &none).as_f64().unwrap_or(-1.0);
        assert!((0.0..1.0).contains(&r));
        assert!(eval("$random('x')", &none).is_err());
    }

    #[test]
    fn now_and_millis_answer_the_given_time() {
        let none = Map::new();
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05.678Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap();
        let at = |e: &str| evaluate_at(e, &none, t).unwrap();
        assert_eq!(at("$now()"), json!("2024-01-02T03:04:05.678Z"));
        assert_eq!(at("$now ( )"), json!("2024-01-02T03:04:05.678Z"));
        assert_eq!(at("$millis()"), json!(1_704_164_645_678_i64));
        assert_eq!(at("$now('[Y0001]-[M01]-[D01]')"), json!("2024-01-02"));
        // Literals that merely mention the functions are untouched.
        assert_eq!(
            at("'$now() and $random(1)'"),
            json!("$now() and $random(1)")
        );
        assert_eq!(
            route_aws_functions("$random() & \"$millis()\" & $nowhere"),
            "$sfnRandom__() & \"$millis()\" & $nowhere"
        );
    }

    // --- expressions used by the other conformance areas ---

    #[test]
    fn undefined_results_fail_with_aws_cause() {
        let e = err("{% $doesNotExist %}", &states(json!({})));
        assert!(e.is_undefined());
        assert_eq!(
            e.state_cause("{% $doesNotExist %}", "Output/result"),
            "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
        );
        assert!(err("$states.input.missing", &states(json!({"a": 1}))).is_undefined());
    }

    #[test]
    fn function_results_are_unsupported() {
        let e = err("{% $fn := function($x){$x} %}", &Map::new());
        assert_eq!(e.cause, "returned an unsupported result type.");
        assert!(!e.is_undefined());
    }

    #[test]
    fn literals_and_constructors() {
        let none = Map::new();
        assert_eq!(ok("{% 'string' %}", &none), json!("string"));
        assert_eq!(ok("{% 1 %}", &none), json!(1));
        assert_eq!(ok("{% null %}", &none), json!(null));
        assert_eq!(ok("{% true %}", &none), json!(true));
        assert_eq!(ok("{% [] %}", &none), json!([]));
        assert_eq!(ok("{% [0] %}", &none), json!([0]));
        assert_eq!(ok("{% [1, 'two', 3] %}", &none), json!([1, "two", 3]));
        assert_eq!(ok("{% {'foo': 'bar'} %}", &none), json!({"foo": "bar"}));
        assert_eq!(ok("{% $variable := 1 %}", &none), json!(1));
        assert_eq!(ok("$number('2')", &none), json!(2));
        assert_eq!(ok("$number(\"2\")", &none), json!(2));
    }

    #[test]
    fn regex_contains_cases() {
        let none = Map::new();
        assert_eq!(
            ok(r#"{% $contains("hello$world", /^hello\$/) %}"#, &none),
            json!(true)
        );
        assert_eq!(
            ok(r#"{% $contains("hello$world", /^hello\ /) %}"#, &none),
            json!(false)
        );
        assert_eq!(
            ok(r"{% $contains('hello$world', /^hello\$/) %}", &none),
            json!(true)
        );
        assert_eq!(
            ok(r"{% $contains('hello$world', /^hello\ /) %}", &none),
            json!(false)
        );
    }

    #[test]
    fn states_variables_and_operators() {
        let mut b = states(json!({
            "input_values": [1, 2, 3], "value": 25, "type": "Private", "str_value": "string literal",
            "result": {"done": true}, "items": [1, 2, 3]
        }));
        b.insert("var_constant_1".into(), json!(10));
        b.insert("var".into(), json!("\""));
        b.insert("varname".into(), json!({"varfield": 5}));
        assert_eq!(
            ok(
                "{% $sum($states.input.input_values) + $var_constant_1 %}",
                &b
            ),
            json!(16)
        );
        assert_eq!(
            ok(
                "{% $states.input.value >= 20 and $states.input.value < 30 %}",
                &b
            ),
            json!(true)
        );
        assert_eq!(ok("{% $states.input.value = 0 %}", &b), json!(false));
        assert_eq!(
            ok("{% $not($states.input.type = 'Private') %}", &b),
            json!(false)
        );
        assert_eq!(
            ok("{% $not($states.input.result.done) %}", &b),
            json!(false)
        );
        assert_eq!(
            ok(r#"{% $states.input.str_value = "string literal" %}"#, &b),
            json!(true)
        );
        assert_eq!(ok(r#"{% $var = '"' %}"#, &b), json!(true));
        assert_eq!(ok("{% $varname.varfield %}", &b), json!(5));
        assert_eq!(ok("{% $states.input.items %}", &b), json!([1, 2, 3]));
        assert_eq!(
            ok("{% $states.context.Execution.Id %}", &b),
            json!("arn:exec")
        );
        assert_eq!(
            ok("{% $states.input.items.($ * 2) %}", &b),
            json!([2, 4, 6])
        );
        assert_eq!(
            ok("{% 'n=' & $string($count($states.input.items)) %}", &b),
            json!("n=3")
        );
        assert_eq!(
            ok("{% $states.input.value > 10 ? 'big' : 'small' %}", &b),
            json!("big")
        );
    }

    #[test]
    fn merge_and_key_order() {
        let b = states(json!({"part1": {"hello": "world"}, "part2": {"foo": "bar"}}));
        let merged = ok(
            "{% $merge([$states.input.part1, $states.input.part2]) %}",
            &b,
        );
        assert_eq!(merged, json!({"hello": "world", "foo": "bar"}));
        assert_eq!(
            serde_json::to_string(&merged).ok(),
            Some(r#"{"hello":"world","foo":"bar"}"#.to_string())
        );
        let constructed = ok(
            "{% {'zeta': 1, 'alpha': 2, 'mid': {'y': 1, 'x': 2}} %}",
            &Map::new(),
        );
        assert_eq!(
            serde_json::to_string(&constructed).ok(),
            Some(r#"{"zeta":1,"alpha":2,"mid":{"y":1,"x":2}}"#.to_string())
        );
        let input = json!({"b": 1, "a": {"d": 1, "c": 2}, "z": [1]});
        let b = states(input.clone());
        let out = ok("{% $states.input ~> | $ | {} | %}", &b);
        assert_eq!(
            serde_json::to_string(&out).ok(),
            serde_json::to_string(&input).ok()
        );
        let passthrough = ok("{% $states.input %}", &b);
        assert_eq!(
            serde_json::to_string(&passthrough).ok(),
            serde_json::to_string(&input).ok()
        );
    }

    #[test]
    fn numbers_keep_integer_form() {
        let none = Map::new();
        assert_eq!(ok("1.0 + 2", &none), json!(3));
        assert!(ok("1.0 + 2", &none).is_i64());
        assert_eq!(ok("1 / 4", &none), json!(0.25));
        assert!(eval("1 / 0", &none).is_err());
    }

    #[test]
    fn syntax_errors_are_query_evaluation_errors() {
        let e = err("{% $states.input. %}", &states(json!({})));
        assert_eq!(e.error, "States.QueryEvaluationError");
        assert!(
            e.cause.starts_with("threw an error during evaluation. S0"),
            "{}",
            e.cause
        );
        assert!(!e.cause.contains(" @ "), "{}", e.cause);
    }

    #[test]
    fn hostile_expressions_do_not_crash() {
        let none = Map::new();
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(eval(&deep, &none).is_err());
        // jsonata-rs panics on these; the panic must become an error.
        let _ = eval("%", &none);
        let _ = eval("1()", &none);
        let chain = vec!["1"; 150].join("+");
        assert_eq!(ok(&chain, &none), json!(150));
        for long in [
            vec!["1"; 1999].join("+"),
            format!("$a{}", ".b".repeat(1999)),
            format!("{}1", "-".repeat(1999)),
        ] {
            let _ = eval(&long, &none);
        }
        assert!(eval(&vec!["1"; 5000].join("+"), &none).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn evaluate_never_panics(s in "[$a-z0-9 .,:;()\\[\\]{}'\"+*/%&|<>=!?~^@#-]{0,30}") {
            let _ = evaluate(&s, &states(serde_json::json!({"a": [1, {"b": 2}]})));
        }
    }
}
