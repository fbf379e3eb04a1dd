//! The `States.*` intrinsic functions of JSONPath states, evaluated the way AWS Step Functions
//! evaluates them.
//!
//! An expression such as `States.Format('{} and {}', $.a, States.ArrayLength($.b))` is tokenized,
//! parsed by recursive descent into a call tree and evaluated bottom-up. JSONPath arguments are
//! resolved by the engine through the `resolve_path` callback, so path semantics (and the error for
//! a path that matches nothing) stay in one place.
//!
//! AWS runs a Java implementation, and several observable details follow from that rather than
//! from the documentation; each is noted where it is implemented:
//! * `States.Format` and `States.ArrayContains` use Java's `toString()` rendering
//!   (`{a=1, b=[1, 2]}`, doubles as `1.0E7`).
//! * `States.ArrayUnique` returns the iteration order of a Java `HashSet`.
//! * `States.MathAdd` rounds its operands half-up; the other numeric arguments are truncated.
//! * `States.MathRandom` with a seed follows `java.util.Random(seed).nextInt(bound)`.
//! * `States.StringSplit` behaves like `java.util.StringTokenizer` (empty tokens are dropped).
//! * `States.Base64Decode` is lenient like Apache Commons Codec (skips foreign characters).
//!
//! Failures are `States.Runtime` errors whose cause is `Invalid arguments in States.X`, the text
//! AWS reports for a function that rejects its arguments; the engine prefixes the usual
//! "An error occurred while executing the state …" sentence.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// A failed intrinsic evaluation, named like the Step Functions error it becomes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct IntrinsicError {
    pub error: String,
    pub cause: String,
}

impl IntrinsicError {
    fn runtime(cause: impl Into<String>) -> Self {
        Self {
            error: RUNTIME_ERROR.to_string(),
            cause: cause.into(),
        }
    }

    fn invalid_arguments(function: &str, detail: &str) -> Self {
        tracing::debug!(
            function,
            detail,
            "intrinsic function rejected its arguments"
        );
        Self::runtime(format!("Invalid arguments in {function}"))
    }
}

const RUNTIME_ERROR: &str = "States.Runtime";
const PREFIX: &str = "States.";
/// AWS documents 10 levels; deeper calls are rejected at validation time there. The parser's
/// own limit only guards the stack against hostile input.
const MAX_PARSE_DEPTH: usize = 64;
/// Maximum length (in UTF-16 units, as Java counts) of the text given to Base64 and Hash.
const MAX_TEXT_UNITS: usize = 10_000;
const MAX_RANGE_ITEMS: usize = 1_000;

/// Whether a `.$` value is an intrinsic function call rather than a path.
pub fn is_intrinsic(expr: &str) -> bool {
    expr.starts_with(PREFIX)
}

/// Checks an intrinsic expression's syntax and function names without evaluating it, for
/// definition-time validation.
pub fn check_syntax(expr: &str) -> Result<(), IntrinsicError> {
    parse(expr).map(|_| ())
}

/// Evaluates an intrinsic function expression. `resolve_path` receives each JSONPath argument
/// (`$.a`, `$`, `$$.Execution.Id`, …) and returns its value or the engine's error.
pub fn evaluate(
    expr: &str,
    resolve_path: &dyn Fn(&str) -> Result<Value, IntrinsicError>,
) -> Result<Value, IntrinsicError> {
    let call = parse(expr)?;
    eval_call(&call, resolve_path)
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

/// A character of a string literal, remembering whether it was written escaped: `States.Format`
/// treats `\{` and `\}` as literal braces, not as a placeholder.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LiteralChar {
    ch: char,
    escaped: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    LParen,
    RParen,
    Comma,
    Str(Vec<LiteralChar>),
    Num(Number),
    Path(String),
}

#[derive(Debug, Clone)]
struct Spanned {
    token: Token,
    at: usize,
}

fn syntax_error(expr: &str, at: usize, detail: &str) -> IntrinsicError {
    IntrinsicError::runtime(format!(
        "The intrinsic function '{expr}' is not valid: {detail} at position {at}"
    ))
}

fn tokenize(expr: &str) -> Result<Vec<Spanned>, IntrinsicError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                Token::LParen
            }
            ')' => {
                i += 1;
                Token::RParen
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            '\'' => {
                let (literal, next) = lex_string(expr, &chars, i)?;
                i = next;
                Token::Str(literal)
            }
            '$' => {
                let (path, next) = lex_path(expr, &chars, i)?;
                i = next;
                Token::Path(path)
            }
            '-' | '0'..='9' => {
                let (number, next) = lex_number(expr, &chars, i)?;
                i = next;
                Token::Num(number)
            }
            c if c.is_ascii_alphabetic() => {
                let end = scan_while(&chars, i, |c| {
                    c.is_ascii_alphanumeric() || c == '.' || c == '_'
                });
                let ident: String = chars[i..end].iter().collect();
                i = end;
                Token::Ident(ident)
            }
            other => {
                return Err(syntax_error(
                    expr,
                    i,
                    &format!("unexpected character '{other}'"),
                ));
            }
        };
        tokens.push(Spanned { token, at: start });
    }
    Ok(tokens)
}

fn scan_while(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut end = from;
    while end < chars.len() && keep(chars[end]) {
        end += 1;
    }
    end
}

fn lex_string(
    expr: &str,
    chars: &[char],
    open: usize,
) -> Result<(Vec<LiteralChar>, usize), IntrinsicError> {
    let mut literal = Vec::new();
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\'' => return Ok((literal, i + 1)),
            '\\' => {
                let escaped = chars
                    .get(i + 1)
                    .copied()
                    .ok_or_else(|| syntax_error(expr, i, "unterminated escape sequence"))?;
                if !matches!(escaped, '\'' | '{' | '}' | '\\') {
                    return Err(syntax_error(
                        expr,
                        i,
                        &format!("unsupported escape sequence '\\{escaped}'"),
                    ));
                }
                literal.push(LiteralChar {
                    ch: escaped,
                    escaped: true,
                });
                i += 2;
            }
            ch => {
                literal.push(LiteralChar { ch, escaped: false });
                i += 1;
            }
        }
    }
    Err(syntax_error(expr, open, "unterminated string literal"))
}

/// A path runs until a `,` or `)` outside brackets and quotes, so filters such as
/// `$.a[?(@.b == 'x, y')]` stay whole.
fn lex_path(expr: &str, chars: &[char], start: usize) -> Result<(String, usize), IntrinsicError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' if depth > 0 => depth -= 1,
                ',' | ')' => break,
                c if c.is_whitespace() && depth == 0 => break,
                _ => {}
            }
        }
        i += 1;
    }
    if quote.is_some() || depth > 0 {
        return Err(syntax_error(expr, start, "unterminated path"));
    }
    let path: String = chars[start..i.min(chars.len())].iter().collect();
    Ok((path, i))
}

/// JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn lex_number(expr: &str, chars: &[char], start: usize) -> Result<(Number, usize), IntrinsicError> {
    let digits = |from: usize| scan_while(chars, from, |c| c.is_ascii_digit());
    let mut i = start;
    if chars.get(i) == Some(&'-') {
        i += 1;
    }
    let int_end = digits(i);
    if int_end == i {
        return Err(syntax_error(expr, start, "malformed number"));
    }
    if chars[i] == '0' && int_end > i + 1 {
        return Err(syntax_error(expr, start, "number with a leading zero"));
    }
    i = int_end;
    let mut is_float = false;
    if chars.get(i) == Some(&'.') {
        let frac_end = digits(i + 1);
        if frac_end == i + 1 {
            return Err(syntax_error(expr, start, "malformed number"));
        }
        i = frac_end;
        is_float = true;
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut exp_start = i + 1;
        if matches!(chars.get(exp_start), Some('+' | '-')) {
            exp_start += 1;
        }
        let exp_end = digits(exp_start);
        if exp_end == exp_start {
            return Err(syntax_error(expr, start, "malformed number"));
        }
        i = exp_end;
        is_float = true;
    }
    if chars
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
    {
        return Err(syntax_error(expr, start, "malformed number"));
    }
    let text: String = chars[start..i].iter().collect();
    let number = if is_float {
        text.parse::<f64>().ok().and_then(Number::from_f64)
    } else {
        text.parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
    };
    number
        .map(|n| (n, i))
        .ok_or_else(|| syntax_error(expr, start, "number out of range"))
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone)]
enum Arg {
    Str(Vec<LiteralChar>),
    Num(Number),
    Bool(bool),
    Null,
    Path(String),
    Call(Call),
}

#[derive(Debug, Clone)]
struct Call {
    function: Function,
    args: Vec<Arg>,
}

struct Parser<'a> {
    expr: &'a str,
    tokens: Vec<Spanned>,
    pos: usize,
}

fn parse(expr: &str) -> Result<Call, IntrinsicError> {
    let mut parser = Parser {
        expr,
        tokens: tokenize(expr)?,
        pos: 0,
    };
    let call = parser.call(0)?;
    if let Some(extra) = parser.tokens.get(parser.pos) {
        return Err(syntax_error(
            expr,
            extra.at,
            "unexpected text after the function call",
        ));
    }
    Ok(call)
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Spanned> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn end_position(&self) -> usize {
        self.expr.chars().count()
    }

    fn call(&mut self, depth: usize) -> Result<Call, IntrinsicError> {
        let end = self.end_position();
        let Some(Spanned {
            token: Token::Ident(name),
            at,
        }) = self.next()
        else {
            return Err(syntax_error(self.expr, end, "expected a States function"));
        };
        if depth > MAX_PARSE_DEPTH {
            return Err(syntax_error(
                self.expr,
                at,
                "intrinsic functions nested too deeply",
            ));
        }
        let function = Function::from_name(&name)
            .ok_or_else(|| syntax_error(self.expr, at, &format!("unknown function '{name}'")))?;
        match self.next() {
            Some(Spanned {
                token: Token::LParen,
                ..
            }) => {}
            other => {
                let at = other.map_or(end, |t| t.at);
                return Err(syntax_error(self.expr, at, "expected '('"));
            }
        }
        let args = self.arguments(depth)?;
        Ok(Call { function, args })
    }

    fn arguments(&mut self, depth: usize) -> Result<Vec<Arg>, IntrinsicError> {
        let mut args = Vec::new();
        if matches!(
            self.tokens.get(self.pos),
            Some(Spanned {
                token: Token::RParen,
                ..
            })
        ) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.argument(depth)?);
            match self.next() {
                Some(Spanned {
                    token: Token::Comma,
                    ..
                }) => {}
                Some(Spanned {
                    token: Token::RParen,
                    ..
                }) => return Ok(args),
                other => {
                    let at = other.map_or(self.end_position(), |t| t.at);
                    return Err(syntax_error(self.expr, at, "expected ',' or ')'"));
                }
            }
        }
    }

    fn argument(&mut self, depth: usize) -> Result<Arg, IntrinsicError> {
        let end = self.end_position();
        let Some(Spanned { token, at }) = self.tokens.get(self.pos).cloned() else {
            return Err(syntax_error(self.expr, end, "expected an argument"));
        };
        let arg = match token {
            Token::Str(literal) => Arg::Str(literal),
            Token::Num(number) => Arg::Num(number),
            Token::Path(path) => Arg::Path(path),
            Token::Ident(ident) => match ident.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "null" => Arg::Null,
                _ if ident.starts_with(PREFIX) => return self.call(depth + 1).map(Arg::Call),
                _ => {
                    return Err(syntax_error(
                        self.expr,
                        at,
                        &format!("unexpected identifier '{ident}'"),
                    ));
                }
            },
            Token::LParen | Token::RParen | Token::Comma => {
                return Err(syntax_error(self.expr, at, "expected an argument"));
            }
        };
        self.pos += 1;
        Ok(arg)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// An evaluated argument. String literals keep their escape marks for `States.Format`.
struct Evaluated {
    value: Value,
    literal: Option<Vec<LiteralChar>>,
}

type Resolver<'r> = &'r dyn Fn(&str) -> Result<Value, IntrinsicError>;

fn eval_arg(arg: &Arg, resolve: Resolver<'_>) -> Result<Evaluated, IntrinsicError> {
    let value = match arg {
        Arg::Str(literal) => {
            return Ok(Evaluated {
                value: Value::String(literal.iter().map(|c| c.ch).collect()),
                literal: Some(literal.clone()),
            });
        }
        Arg::Num(number) => Value::Number(number.clone()),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Null => Value::Null,
        Arg::Path(path) => resolve(path)?,
        Arg::Call(call) => eval_call(call, resolve)?,
    };
    Ok(Evaluated {
        value,
        literal: None,
    })
}

fn eval_call(call: &Call, resolve: Resolver<'_>) -> Result<Value, IntrinsicError> {
    let args = call
        .args
        .iter()
        .map(|arg| eval_arg(arg, resolve))
        .collect::<Result<Vec<_>, _>>()?;
    let f = call.function;
    let bad = |detail: &str| IntrinsicError::invalid_arguments(f.name(), detail);
    match f {
        Function::Format => format(&args, bad),
        Function::Array => Ok(Value::Array(args.into_iter().map(|a| a.value).collect())),
        Function::Uuid => {
            exact::<0, _>(&args, bad)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        _ => {
            let values: Vec<Value> = args.into_iter().map(|a| a.value).collect();
            eval_value_function(f, &values, bad)
        }
    }
}

fn eval_value_function(
    f: Function,
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    match f {
        Function::StringToJson => string_to_json(args, bad),
        Function::JsonToString => {
            let [value] = exact(args, bad)?;
            Ok(Value::String(java_json(value)))
        }
        Function::ArrayPartition => array_partition(args, bad),
        Function::ArrayContains => {
            let [array, needle] = exact(args, &bad)?;
            let array = array
                .as_array()
                .ok_or_else(|| bad("first argument is not an array"))?;
            let wanted = java_string(needle);
            Ok(Value::Bool(array.iter().any(|v| java_string(v) == wanted)))
        }
        Function::ArrayRange => array_range(args, bad),
        Function::ArrayGetItem => array_get_item(args, bad),
        Function::ArrayLength => {
            let [array] = exact(args, &bad)?;
            let array = array
                .as_array()
                .ok_or_else(|| bad("argument is not an array"))?;
            Ok(Value::from(array.len()))
        }
        Function::ArrayUnique => {
            let [array] = exact(args, &bad)?;
            let array = array
                .as_array()
                .ok_or_else(|| bad("argument is not an array"))?;
            Ok(Value::Array(java_hash_set_order(array)))
        }
        Function::Base64Encode => {
            let [text] = exact(args, &bad)?;
            let text = bounded_text(text, &bad)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            ))
        }
        Function::Base64Decode => {
            let [text] = exact(args, &bad)?;
            let text = bounded_text(text, &bad)?;
            let bytes = lenient_base64_decode(text);
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Function::Hash => hash(args, bad),
        Function::JsonMerge => json_merge(args, bad),
        Function::MathRandom => math_random(args, bad),
        Function::MathAdd => math_add(args, bad),
        Function::StringSplit => {
            let [text, delimiters] = exact(args, &bad)?;
            let (Some(text), Some(delimiters)) = (text.as_str(), delimiters.as_str()) else {
                return Err(bad("arguments must be strings"));
            };
            Ok(Value::Array(
                tokenize_like_java(text, delimiters)
                    .into_iter()
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ))
        }
        Function::Format | Function::Array | Function::Uuid => {
            Err(bad("handled with literal arguments"))
        }
    }
}

/// Exactly `N` arguments, as a fixed-size array of references.
fn exact<const N: usize, T>(
    args: &[T],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<[&T; N], IntrinsicError> {
    let refs: Vec<&T> = args.iter().collect();
    refs.try_into()
        .map_err(|_| bad(&format!("expected {N} argument(s), got {}", args.len())))
}

// --- States.Format ---------------------------------------------------------------------------

enum Piece {
    Text(String),
    Placeholder,
}

fn format(
    args: &[Evaluated],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let (template, values) = args.split_first().ok_or_else(|| bad("missing template"))?;
    let template_chars: Vec<LiteralChar> = match (&template.literal, &template.value) {
        (Some(literal), _) => literal.clone(),
        (None, Value::String(s)) => s
            .chars()
            .map(|ch| LiteralChar { ch, escaped: false })
            .collect(),
        (None, _) => return Err(bad("template is not a string")),
    };
    let pieces = template_pieces(&template_chars).ok_or_else(|| bad("unbalanced braces"))?;
    let placeholders = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Placeholder))
        .count();
    if placeholders != values.len() {
        return Err(bad("placeholder count differs from argument count"));
    }
    let mut values = values.iter();
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Placeholder => {
                if let Some(v) = values.next() {
                    out.push_str(&java_string(&v.value));
                }
            }
        }
    }
    Ok(Value::String(out))
}

/// Splits a template at unescaped `{}`; any other unescaped brace makes it invalid.
fn template_pieces(chars: &[LiteralChar]) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (c.ch, c.escaped) {
            ('{', false) => {
                let closes = chars.get(i + 1).is_some_and(|n| n.ch == '}' && !n.escaped);
                if !closes {
                    return None;
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Placeholder);
                i += 2;
                continue;
            }
            ('}', false) => return None,
            (ch, _) => text.push(ch),
        }
        i += 1;
    }
    pieces.push(Piece::Text(text));
    Some(pieces)
}

// --- JSON <-> string -------------------------------------------------------------------------

fn string_to_json(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let [text] = exact(args, &bad)?;
    let text = text
        .as_str()
        .ok_or_else(|| bad("argument is not a string"))?;
    // Jackson reads blank text as "no content", which AWS returns as null.
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut parsed: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    // serde_json reads the integer `-0` as the double -0.0; Jackson reads it as the int 0.
    let has_negative_zero_double = ["-0.", "-0e", "-0E"].iter().any(|p| text.contains(p));
    if !has_negative_zero_double {
        integer_negative_zero(&mut parsed);
    }
    Ok(parsed)
}

fn integer_negative_zero(value: &mut Value) {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|d| d == 0.0 && d.is_sign_negative()) => {
            *value = Value::from(0);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_negative_zero),
        Value::Object(map) => map.values_mut().for_each(integer_negative_zero),
        _ => {}
    }
}

/// Compact JSON as Jackson writes it: doubles in Java's `Double.toString` form.
fn java_json(value: &Value) -> String {
    let mut out = String::new();
    write_java_json(value, &mut out);
    out
}

fn write_java_json(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => out.push_str(&java_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_java_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_java_json(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `String.valueOf(x)` of the Java object Jackson would have built: maps as `{k=v, …}`, lists as
/// `[a, b]`, strings bare.
fn java_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => java_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(java_string).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", java_string(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn java_number(n: &Number) -> String {
    match n.as_f64() {
        Some(d) if n.is_f64() => java_double(d),
        _ => n.to_string(),
    }
}

/// Java's `Double.toString`: plain notation with at least one decimal in [1e-3, 1e7), otherwise
/// `d.dddE±n`. The digits are the shortest that round-trip, as in JDK 19 and later.
fn java_double(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    let scientific = format!("{abs:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (1e-3..1e7).contains(&abs) {
        let point = exponent + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if point >= digits.len() {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

// --- Arrays ----------------------------------------------------------------------------------

/// Truncates a JSON number toward zero, as AWS does for integer arguments.
fn truncated(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|d| d.is_finite() && d.abs() < 9.2e18)
                .map(|d| d.trunc() as i64)
        }),
        _ => None,
    }
}

fn array_partition(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let [array, size] = exact(args, &bad)?;
    let array = array
        .as_array()
        .ok_or_else(|| bad("first argument is not an array"))?;
    let size = truncated(size)
        .filter(|s| *s > 0)
        .ok_or_else(|| bad("chunk size must be a positive number"))?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(
        array
            .chunks(size)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

fn array_range(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let [first, last, step] = exact(args, &bad)?;
    let (Some(first), Some(last), Some(step)) =
        (truncated(first), truncated(last), truncated(step))
    else {
        return Err(bad("arguments must be numbers"));
    };
    if step == 0 {
        return Err(bad("step must not be zero"));
    }
    let span = i128::from(last) - i128::from(first);
    let count = if (span >= 0) == (step > 0) || span == 0 {
        span / i128::from(step) + 1
    } else {
        0
    };
    if count > MAX_RANGE_ITEMS as i128 {
        return Err(bad("range has more than 1000 items"));
    }
    let items = (0..count)
        .map(|i| Value::from(i128::from(first) as i64 + (i as i64) * step))
        .collect();
    Ok(Value::Array(items))
}

fn array_get_item(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let [array, index] = exact(args, &bad)?;
    let array = array
        .as_array()
        .ok_or_else(|| bad("first argument is not an array"))?;
    let index = truncated(index).ok_or_else(|| bad("index is not a number"))?;
    // Observed on AWS: any index into an empty array yields null rather than an error.
    if array.is_empty() {
        return Ok(Value::Null);
    }
    usize::try_from(index)
        .ok()
        .and_then(|i| array.get(i))
        .cloned()
        .ok_or_else(|| bad("index out of bounds"))
}

/// The iteration order of `HashSet<Object>` built from the list on a current JDK: buckets by
/// spread hash, insertion order within a bucket, first occurrence kept.
fn java_hash_set_order(items: &[Value]) -> Vec<Value> {
    let mut unique: Vec<(&Value, i32)> = Vec::new();
    for item in items {
        if !unique.iter().any(|(seen, _)| java_equals(seen, item)) {
            unique.push((item, java_hash(item)));
        }
    }
    let capacity = java_hash_map_capacity(items.len().max(12));
    let mut indexed: Vec<(usize, usize, &Value)> = unique
        .into_iter()
        .enumerate()
        .map(|(order, (value, hash))| {
            let spread = (hash as u32) ^ ((hash as u32) >> 16);
            (spread as usize & (capacity - 1), order, value)
        })
        .collect();
    indexed.sort_by_key(|(bucket, order, _)| (*bucket, *order));
    indexed.into_iter().map(|(_, _, v)| v.clone()).collect()
}

/// `HashMap.newHashMap(n)`: the smallest power of two holding `n` entries at load factor 0.75.
fn java_hash_map_capacity(entries: usize) -> usize {
    let needed = entries.saturating_mul(4).div_ceil(3);
    needed.next_power_of_two().max(16)
}

/// `Object.equals` of the Java objects: numbers of different Java types differ.
fn java_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64() && x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| java_equals(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| java_equals(v, w)))
        }
        _ => a == b,
    }
}

fn java_hash(value: &Value) -> i32 {
    match value {
        Value::Null => 0,
        Value::Bool(true) => 1231,
        Value::Bool(false) => 1237,
        Value::Number(n) => java_number_hash(n),
        Value::String(s) => java_string_hash(s),
        Value::Array(items) => items.iter().fold(1i32, |h, item| {
            h.wrapping_mul(31).wrapping_add(java_hash(item))
        }),
        Value::Object(map) => map.iter().fold(0i32, |h, (k, v)| {
            h.wrapping_add(java_string_hash(k) ^ java_hash(v))
        }),
    }
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

fn java_number_hash(n: &Number) -> i32 {
    let fold = |bits: u64| (bits ^ (bits >> 32)) as u32 as i32;
    if n.is_f64() {
        return fold(n.as_f64().unwrap_or(0.0).to_bits());
    }
    match n.as_i64() {
        Some(i) => match i32::try_from(i) {
            Ok(small) => small,
            Err(_) => fold(i as u64),
        },
        None => fold(n.as_u64().unwrap_or(0)),
    }
}

// --- Encoding and hashing --------------------------------------------------------------------

fn bounded_text(
    value: &Value,
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<&str, IntrinsicError> {
    let text = value
        .as_str()
        .ok_or_else(|| bad("argument is not a string"))?;
    if text.encode_utf16().count() > MAX_TEXT_UNITS {
        return Err(bad("text longer than 10000 characters"));
    }
    Ok(text)
}

/// Apache Commons Codec's decoder: characters outside the (standard or URL-safe) alphabet are
/// skipped, the first `=` ends the data, and incomplete trailing bits are dropped.
fn lenient_base64_decode(text: &str) -> Vec<u8> {
    let sextet = |c: char| -> Option<u32> {
        Some(match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '+' | '-' => 62,
            '/' | '_' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in text.chars() {
        if c == '=' {
            break;
        }
        let Some(value) = sextet(c) else { continue };
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

fn hash(args: &[Value], bad: impl Fn(&str) -> IntrinsicError) -> Result<Value, IntrinsicError> {
    use sha2::Digest as _;
    let [data, algorithm] = exact(args, &bad)?;
    // Observed on AWS: numbers and objects are hashed in their Java string form.
    let data = match data {
        Value::Null => return Err(bad("data is null")),
        other => java_string(other),
    };
    if data.encode_utf16().count() > MAX_TEXT_UNITS {
        return Err(bad("data longer than 10000 characters"));
    }
    let bytes = data.as_bytes();
    let digest = match algorithm.as_str() {
        Some("MD5") => hex::encode(md5::Md5::digest(bytes)),
        Some("SHA-1") => hex::encode(sha1::Sha1::digest(bytes)),
        Some("SHA-256") => hex::encode(sha2::Sha256::digest(bytes)),
        Some("SHA-384") => hex::encode(sha2::Sha384::digest(bytes)),
        Some("SHA-512") => hex::encode(sha2::Sha512::digest(bytes)),
        _ => return Err(bad("unsupported hash algorithm")),
    };
    Ok(Value::String(digest))
}

// --- JSON and maths --------------------------------------------------------------------------

fn json_merge(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    let [left, right, deep] = exact(args, &bad)?;
    let (Some(left), Some(right)) = (left.as_object(), right.as_object()) else {
        return Err(bad("arguments must be JSON objects"));
    };
    // AWS supports only the shallow mode; a non-boolean flag is observed to mean shallow.
    if deep == &Value::Bool(true) {
        return Err(bad("deep merge is not supported"));
    }
    let mut merged: Map<String, Value> = left.clone();
    for (k, v) in right {
        merged.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(merged))
}

/// Java's `Math.round`: halves round toward positive infinity.
fn java_round(d: f64) -> f64 {
    let floor = d.floor();
    if d - floor >= 0.5 { floor + 1.0 } else { floor }
}

fn math_add(args: &[Value], bad: impl Fn(&str) -> IntrinsicError) -> Result<Value, IntrinsicError> {
    let [a, b] = exact(args, &bad)?;
    let operand = |v: &Value| -> Result<i64, IntrinsicError> {
        let n = match v {
            Value::Number(n) => n,
            _ => return Err(bad("operands must be numbers")),
        };
        let rounded = match n.as_i64() {
            Some(i) => i,
            None => {
                let d = java_round(n.as_f64().unwrap_or(f64::NAN));
                if !d.is_finite() || d.abs() > 1e15 {
                    return Err(bad("operand out of range"));
                }
                d as i64
            }
        };
        i32::try_from(rounded)
            .map(i64::from)
            .map_err(|_| bad("operand outside the int range"))
    };
    let sum = operand(a)? + operand(b)?;
    i32::try_from(sum)
        .map(Value::from)
        .map_err(|_| bad("sum outside the int range"))
}

fn math_random(
    args: &[Value],
    bad: impl Fn(&str) -> IntrinsicError,
) -> Result<Value, IntrinsicError> {
    if !(2..=3).contains(&args.len()) {
        return Err(bad("expected 2 or 3 arguments"));
    }
    let bound = |v: &Value| {
        truncated(v)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| bad("bounds must be int numbers"))
    };
    let start = bound(&args[0])?;
    let end = bound(&args[1])?;
    if start >= end {
        return Err(bad("start must be less than end"));
    }
    let width = i64::from(end) - i64::from(start);
    let offset = match args.get(2) {
        Some(seed) => {
            let seed = truncated(seed).ok_or_else(|| bad("seed must be a number"))?;
            let width = i32::try_from(width).map_err(|_| bad("range too wide for a seed"))?;
            i64::from(JavaRandom::new(seed).next_int(width))
        }
        None => rand::random_range(0..width),
    };
    Ok(Value::from(i64::from(start) + offset))
}

/// `java.util.Random`: a 48-bit linear congruential generator.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        Self {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt(bound)` for a positive bound, including its rejection loop.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

// --- Strings ---------------------------------------------------------------------------------

/// `java.util.StringTokenizer`: every character of `delimiters` separates tokens and empty
/// tokens are dropped.
fn tokenize_like_java<'t>(text: &'t str, delimiters: &str) -> Vec<&'t str> {
    text.split(|c: char| delimiters.contains(c))
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Resolves `$…` paths against `input` and `$$…` against `context`, like the engine does
    /// for plain dotted paths.
    fn resolver(input: Value, context: Value) -> impl Fn(&str) -> Result<Value, IntrinsicError> {
        move |path: &str| {
            let (root, rest) = if let Some(rest) = path.strip_prefix("$$") {
                (&context, rest)
            } else if let Some(rest) = path.strip_prefix('$') {
                (&input, rest)
            } else {
                return Err(IntrinsicError::runtime(format!("bad path {path}")));
            };
            let mut node = root;
            for key in rest.split('.').filter(|k| !k.is_empty()) {
                node = node.get(key).ok_or_else(|| {
                    IntrinsicError::runtime(format!(
                        "The JSONPath '{path}' could not be found in the input"
                    ))
                })?;
            }
            Ok(node.clone())
        }
    }

    fn eval_with(expr: &str, input: Value) -> Result<Value, IntrinsicError> {
        let resolve = resolver(input, json!({}));
        evaluate(expr, &resolve)
    }

    fn eval_ok(expr: &str, input: Value) -> Value {
        match eval_with(expr, input) {
            Ok(v) => v,
            Err(e) => panic!("{expr} failed: {e}"),
        }
    }

    fn eval_err(expr: &str, input: Value) -> IntrinsicError {
        match eval_with(expr, input) {
            Ok(v) => panic!("{expr} unexpectedly gave {v}"),
            Err(e) => e,
        }
    }

    fn fi(fst: Value, snd: Value) -> Value {
        json!({"FunctionInput": {"fst": fst, "snd": snd}})
    }

    #[test]
    fn is_intrinsic_requires_the_states_prefix() {
        assert!(is_intrinsic("States.Array()"));
        assert!(!is_intrinsic("$.States"));
        assert!(!is_intrinsic(" States.Array()"));
    }

    // --- snapshots: test_array.snapshot.json ---

    #[test]
    fn array_snapshot_cases() {
        assert_eq!(eval_ok("States.Array()", json!({})), json!([]));
        let expr = "States.Array($.FunctionInput.fst, $.FunctionInput.snd)";
        for v in [
            json!(""),
            json!(" "),
            json!(null),
            json!(1),
            json!(1.1),
            json!({"Arg1": 1, "Arg2": []}),
        ] {
            assert_eq!(eval_ok(expr, fi(v.clone(), v.clone())), json!([v, v]));
        }
    }

    #[test]
    fn array_contains_snapshot_cases() {
        let expr = "States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)";
        let cases = [
            (json!([]), json!(null), false),
            (json!([]), json!([]), false),
            (json!([]), json!(1), false),
            (json!([[1, 2, 3], 2]), json!(null), false),
            (json!([[1, 2, 3], 2]), json!([1, 2, 3]), true),
            (json!([{"1": 2, "2": []}]), json!([]), false),
            (json!([{"1": 2, "2": []}]), json!({"1": 2, "2": []}), true),
            (json!([true, false]), json!(true), true),
            (json!([true, false]), json!(false), true),
        ];
        for (array, needle, expected) in cases {
            assert_eq!(
                eval_ok(expr, fi(array.clone(), needle.clone())),
                json!(expected),
                "{array} contains {needle}"
            );
        }
    }

    #[test]
    fn array_contains_compares_java_string_forms() {
        let expr = "States.ArrayContains($.a, $.b)";
        let check = |a: Value, b: Value| eval_ok(expr, json!({"a": a, "b": b}));
        assert_eq!(check(json!(["true"]), json!(true)), json!(true));
        assert_eq!(
            check(json!([{"a": 1, "b": 2}]), json!({"b": 2, "a": 1})),
            json!(false)
        );
        assert_eq!(
            check(json!([{"a": 1}]), json!({"a": 1, "x": null})),
            json!(false)
        );
    }

    #[test]
    fn array_get_item_and_length_snapshot_cases() {
        let input = fi(json!([1, 2, 3, 4, 5, 6, 7, 8, 9]), json!(5));
        assert_eq!(
            eval_ok(
                "States.ArrayGetItem($.FunctionInput.fst, $.FunctionInput.snd)",
                input
            ),
            json!(6)
        );
        let input = json!({"FunctionInput": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(
            eval_ok("States.ArrayLength($.FunctionInput)", input),
            json!(9)
        );
    }

    #[test]
    fn array_get_item_bounds() {
        let arr = json!({"a": [10, 20, 30]});
        assert_eq!(
            eval_ok("States.ArrayGetItem($.a, 1.2)", arr.clone()),
            json!(20)
        );
        let e = eval_err("States.ArrayGetItem($.a, 3)", arr.clone());
        assert_eq!(e.error, "States.Runtime");
        assert_eq!(e.cause, "Invalid arguments in States.ArrayGetItem");
        eval_err("States.ArrayGetItem($.a, -1)", arr.clone());
        eval_err("States.ArrayGetItem($.a, '1')", arr);
        assert_eq!(
            eval_ok("States.ArrayGetItem($.a, 999)", json!({"a": []})),
            json!(null)
        );
        eval_err("States.ArrayGetItem('x', 0)", json!({}));
    }

    #[test]
    fn array_partition_snapshot_cases() {
        let expr = "States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)";
        for len in 0..=4u64 {
            let array: Vec<u64> = (0..len).collect();
            for size in 1..=5u64 {
                let expected: Vec<Vec<u64>> =
                    array.chunks(size as usize).map(|c| c.to_vec()).collect();
                assert_eq!(
                    eval_ok(expr, fi(json!(array), json!(size))),
                    json!(expected),
                    "{array:?} by {size}"
                );
            }
        }
        assert_eq!(
            eval_ok(expr, fi(json!([0, 1, 2]), json!(2))),
            json!([[0, 1], [2]])
        );
    }

    #[test]
    fn array_partition_truncates_and_rejects_non_positive_sizes() {
        let input = json!({"a": [1, 2, 3, 4, 5]});
        assert_eq!(
            eval_ok("States.ArrayPartition($.a, 2.6)", input.clone()),
            json!([[1, 2], [3, 4], [5]])
        );
        for size in ["0", "0.6", "-0.4", "-1", "null", "'2'"] {
            let e = eval_err(
                &format!("States.ArrayPartition($.a, {size})"),
                input.clone(),
            );
            assert_eq!(
                e.cause, "Invalid arguments in States.ArrayPartition",
                "{size}"
            );
        }
    }

    #[test]
    fn array_range_snapshot_cases() {
        let expr =
            "States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)";
        let cases = [
            ((0, 9, 3), json!([0, 3, 6, 9])),
            ((0, 10, 3), json!([0, 3, 6, 9])),
            ((1, 9, 9), json!([1])),
            ((1, 9, 2), json!([1, 3, 5, 7, 9])),
        ];
        for ((a, b, c), expected) in cases {
            let input = json!({"FunctionInput": {"fst": a, "snd": b, "trd": c}});
            assert_eq!(eval_ok(expr, input), expected);
        }
    }

    #[test]
    fn array_range_edges() {
        let r = |e: &str| eval_with(e, json!({}));
        assert_eq!(
            r("States.ArrayRange(5, 1, -2)").ok(),
            Some(json!([5, 3, 1]))
        );
        assert_eq!(r("States.ArrayRange(5, 1, 1)").ok(), Some(json!([])));
        assert_eq!(r("States.ArrayRange(1, 5, -1)").ok(), Some(json!([])));
        assert_eq!(r("States.ArrayRange(3, 3, -1)").ok(), Some(json!([3])));
        assert_eq!(r("States.ArrayRange(1.6, 1.4, 1)").ok(), Some(json!([1])));
        assert_eq!(
            r("States.ArrayRange(5.4, -0.6, -2.4)").ok(),
            Some(json!([5, 3, 1]))
        );
        let thousand = r("States.ArrayRange(1, 1000, 1)").ok();
        assert_eq!(
            thousand.and_then(|v| v.as_array().map(Vec::len)),
            Some(1000)
        );
        assert!(r("States.ArrayRange(1, 1001, 1)").is_err());
        assert!(r("States.ArrayRange(1001, 1, -1)").is_err());
        assert!(r("States.ArrayRange(1, 10, 0.49)").is_err());
        assert!(r("States.ArrayRange('a', 5, 1)").is_err());
    }

    #[test]
    fn array_unique_follows_java_hash_set_order() {
        let u = |a: Value| eval_ok("States.ArrayUnique($.a)", json!({"a": a}));
        assert_eq!(u(json!([1, 2, 3, 3, 3, 4])), json!([1, 2, 3, 4]));
        assert_eq!(u(json!(["a", "b", "a", "c", "b"])), json!(["a", "b", "c"]));
        assert_eq!(u(json!([true, false, true, false])), json!([false, true]));
        assert_eq!(u(json!([null, null, 1, null])), json!([null, 1]));
        assert_eq!(u(json!([1, "1", 1, "01"])), json!([1, "1", "01"]));
        assert_eq!(
            u(json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}])),
            json!([{"a": 1, "b": 2}])
        );
        assert_eq!(u(json!([[1, 2], [1, 2], [2, 1]])), json!([[2, 1], [1, 2]]));
        assert_eq!(u(json!([])), json!([]));
        eval_err("States.ArrayUnique('x')", json!({}));
    }

    // --- test_encode_decode.snapshot.json ---

    #[test]
    fn base64_snapshot_cases() {
        let e = |v: &str| {
            eval_ok(
                "States.Base64Encode($.FunctionInput)",
                json!({"FunctionInput": v}),
            )
        };
        let d = |v: &str| {
            eval_ok(
                "States.Base64Decode($.FunctionInput)",
                json!({"FunctionInput": v}),
            )
        };
        assert_eq!(e(""), json!(""));
        assert_eq!(e("Data to encode"), json!("RGF0YSB0byBlbmNvZGU="));
        assert_eq!(d(""), json!(""));
        assert_eq!(d("RGF0YSB0byBlbmNvZGU="), json!("Data to encode"));
        assert_eq!(e("🚀"), json!("8J+agA=="));
        assert_eq!(d("44GT44KT44Gr44Gh44Gv"), json!("こんにちは"));
    }

    #[test]
    fn base64_decode_is_lenient_and_lengths_are_bounded() {
        let d = |v: &str| eval_ok("States.Base64Decode($.s)", json!({"s": v}));
        assert_eq!(d(" YWJjZA== "), json!("abcd"));
        assert_eq!(d("YWJjAGRlZg=="), json!("abc\u{0}def"));
        assert_eq!(d("ab==cd"), json!("i"));
        eval_ok("States.Base64Decode('!!!invalid!!!')", json!({}));
        let long = "a".repeat(10_001);
        eval_err("States.Base64Encode($.s)", json!({"s": long}));
        eval_ok("States.Base64Encode($.s)", json!({"s": "a".repeat(10_000)}));
        eval_err("States.Base64Encode(123)", json!({}));
        eval_err("States.Base64Decode($.s)", json!({"s": {}}));
    }

    // --- test_generic.snapshot.json ---

    #[test]
    fn format_snapshot_cases() {
        let one = "States.Format('Formatting argument {}.', $.FunctionInput)";
        let cases = [
            (json!(""), "Formatting argument ."),
            (json!(" "), "Formatting argument  ."),
            (json!("HelloWorld"), "Formatting argument HelloWorld."),
            (json!(null), "Formatting argument null."),
            (json!(1), "Formatting argument 1."),
            (json!(1.1), "Formatting argument 1.1."),
            (
                json!("{\"Arg1\": 1, \"Arg2\": []}"),
                "Formatting argument {\"Arg1\": 1, \"Arg2\": []}.",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                eval_ok(one, json!({"FunctionInput": input})),
                json!(expected)
            );
        }
        let two = "States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)";
        let obj = json!({"Arg1": 1, "Arg2": []});
        assert_eq!(
            eval_ok(two, fi(obj.clone(), obj)),
            json!("Formatting arguments fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}.")
        );
        assert_eq!(
            eval_ok(two, fi(json!(null), json!(null))),
            json!("Formatting arguments fst=null and snd=null.")
        );
    }

    #[test]
    fn format_with_context_object() {
        let resolve = resolver(
            json!({}),
            json!({
                "Execution": {"Name": "exec-1"},
                "StateMachine": {"Id": "arn:aws:states:us-east-1:1:stateMachine:sm", "Name": "sm"}
            }),
        );
        let out = evaluate(
            "States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)",
            &resolve,
        );
        assert_eq!(
            out.ok(),
            Some(json!(
                "Formatting arguments fst=exec-1 and snd={Id=arn:aws:states:us-east-1:1:stateMachine:sm, Name=sm}."
            ))
        );
    }

    #[test]
    fn format_escapes_and_brace_validation() {
        assert_eq!(
            eval_ok(
                r"States.Format('Name: \'{}\' \{literal\} \\ {}', $.a, $.b)",
                json!({"a": "x", "b": 2})
            ),
            json!(r"Name: 'x' {literal} \ 2")
        );
        assert_eq!(
            eval_ok("States.Format('no placeholders')", json!({})),
            json!("no placeholders")
        );
        assert_eq!(
            eval_ok(
                "States.Format($.t, $.n)",
                json!({"t": "Hello {}", "n": "Ada"})
            ),
            json!("Hello Ada")
        );
        assert_eq!(
            eval_ok(
                "States.Format('{}|{}|{}|{}', $.a, $.b, $.c, $.d)",
                json!({"a": null, "b": false, "c": -1, "d": 3.5})
            ),
            json!("null|false|-1|3.5")
        );
        for bad in [
            "'{} {}', $.a",
            "'{}', $.a, $.a",
            "'Hello {', $.a",
            "'Hello {{}}', $.a",
            "'}'",
        ] {
            let e = eval_err(&format!("States.Format({bad})"), json!({"a": "x"}));
            assert_eq!(e.cause, "Invalid arguments in States.Format", "{bad}");
        }
        eval_err("States.Format($.t, $.a)", json!({"t": 123, "a": "x"}));
    }

    #[test]
    fn format_renders_doubles_like_java() {
        let f = |v: Value| eval_ok("States.Format('{}', $.v)", json!({"v": v}));
        assert_eq!(f(json!(1.0)), json!("1.0"));
        assert_eq!(f(json!(1e7)), json!("1.0E7"));
        assert_eq!(f(json!(12345678.9)), json!("1.23456789E7"));
        assert_eq!(f(json!(0.001)), json!("0.001"));
        assert_eq!(f(json!(0.0001)), json!("1.0E-4"));
        assert_eq!(f(json!(-2.5)), json!("-2.5"));
        assert_eq!(f(json!(9007199254740991u64)), json!("9007199254740991"));
        assert_eq!(f(json!([1, "a", [true]])), json!("[1, a, [true]]"));
    }

    #[test]
    fn escape_sequence_and_nested_calls_snapshot_cases() {
        assert_eq!(
            eval_ok("States.StringSplit('Hello\nWorld', '\n')", json!({})),
            json!(["Hello", "World"])
        );
        let resolve = resolver(
            json!({}),
            json!({"StateMachine": {"Name": "machine-name-x"}}),
        );
        let nested1 = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)";
        assert_eq!(evaluate(nested1, &resolve).ok(), Some(json!("machine")));
        let nested2 = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))";
        assert_eq!(evaluate(nested2, &resolve).ok(), Some(json!("x")));
    }

    // --- test_hash_calculations.snapshot.json ---

    #[test]
    fn hash_snapshot_cases() {
        let expr = "States.Hash($.FunctionInput.fst, $.FunctionInput.snd)";
        let cases = [
            ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
            ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
            (
                "SHA-256",
                "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
            ),
            (
                "SHA-384",
                "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
            ),
            (
                "SHA-512",
                "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
            ),
        ];
        for (algorithm, digest) in cases {
            assert_eq!(
                eval_ok(expr, fi(json!("input data"), json!(algorithm))),
                json!(digest)
            );
        }
    }

    #[test]
    fn hash_validation() {
        assert_eq!(
            eval_ok("States.Hash('hello', 'MD5')", json!({})),
            json!("5d41402abc4b2a76b9719d911017c592")
        );
        for bad in [
            "'data', 'sha-256'",
            "'data', 'SHA256'",
            "'data', ''",
            "'data', 'MD-5'",
            "'hello', 123",
            "'hello'",
            "'hello', 'MD5', 'x'",
        ] {
            eval_err(&format!("States.Hash({bad})"), json!({}));
        }
        eval_err(
            "States.Hash($.s, 'SHA-256')",
            json!({"s": "a".repeat(10_001)}),
        );
        eval_ok(
            "States.Hash($.s, 'SHA-256')",
            json!({"s": "a".repeat(10_000)}),
        );
    }

    // --- test_json_manipulation.snapshot.json ---

    #[test]
    fn json_merge_snapshot_cases() {
        let input = fi(
            json!({"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}),
            json!({"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4}),
        );
        assert_eq!(
            eval_ok(
                "States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, false)",
                input
            ),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4})
        );
        let resolve = resolver(
            json!({}),
            json!({"Execution": {"Input": {"input_field": {"constant_input_field": "constant_value"}}}}),
        );
        let escaped = r#"States.JsonMerge(States.StringToJson('{"constant_in_literal": "false"}'), $$.Execution.Input.input_field, false)"#;
        assert_eq!(
            evaluate(escaped, &resolve).ok(),
            Some(json!({"constant_in_literal": "false", "constant_input_field": "constant_value"}))
        );
        eval_err(
            "States.JsonMerge($.a, $.b, true)",
            json!({"a": {}, "b": {}}),
        );
        eval_err(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": [], "b": {}}),
        );
        assert_eq!(
            eval_ok(
                "States.JsonMerge($.a, $.b, 'false')",
                json!({"a": {"x": 1}, "b": {}})
            ),
            json!({"x": 1})
        );
    }

    #[test]
    fn json_to_string_snapshot_cases() {
        let expr = "States.JsonToString($.FunctionInput)";
        let cases = [
            (json!(null), "null"),
            (json!(0), "0"),
            (json!(1), "1"),
            (json!(1.1), "1.1"),
            (json!(true), "true"),
            (json!("HelloWorld"), "\"HelloWorld\""),
            (json!([1, 2, "HelloWorld"]), "[1,2,\"HelloWorld\"]"),
            (json!({"Arg1": 1, "Arg2": []}), "{\"Arg1\":1,\"Arg2\":[]}"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                eval_ok(expr, json!({"FunctionInput": input})),
                json!(expected)
            );
        }
        assert_eq!(
            eval_ok("States.JsonToString('x')", json!({})),
            json!("\"x\"")
        );
    }

    #[test]
    fn string_to_json_snapshot_cases() {
        let expr = "States.StringToJson($.FunctionInput)";
        let cases = [
            ("", json!(null)),
            (" ", json!(null)),
            ("null", json!(null)),
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
        for (input, expected) in cases {
            let out = eval_ok(expr, json!({"FunctionInput": input}));
            assert_eq!(out, expected, "{input:?}");
            assert_eq!(out.is_f64(), expected.is_f64(), "{input:?} number type");
        }
        eval_err(expr, json!({"FunctionInput": "{bad json}"}));
        eval_err(expr, json!({"FunctionInput": 123}));
    }

    // --- test_math_operations.snapshot.json ---

    #[test]
    fn math_add_snapshot_cases() {
        let expr = "States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)";
        let cases = [
            (json!(-9), json!(3), -6),
            (json!(1.49), json!(1.5), 3),
            (json!(-1.5), json!(0), -1),
            (json!(-1.51), json!(0), -2),
            (json!(0.5), json!(0), 1),
            (json!(1.5), json!(0), 2),
            (json!(2.5), json!(0), 3),
            (json!(3.5), json!(0), 4),
            (json!(-0.5), json!(0.5), 1),
            (json!(-0.5), json!(0), 0),
            (json!(-2.5), json!(0), -2),
            (json!(1.5), json!(1.51), 4),
            (json!(-3.5), json!(0), -3),
            (json!(-1.49), json!(-1.5), -2),
            (json!(-1.5), json!(-1.51), -3),
            (json!(1.49), json!(0), 1),
            (json!(1.49), json!(-1.49), 0),
            (json!(1.51), json!(0), 2),
            (json!(-1.49), json!(0), -1),
        ];
        for (a, b, expected) in cases {
            let out = eval_ok(expr, fi(a.clone(), b.clone()));
            assert_eq!(out, json!(expected), "{a} + {b}");
            assert!(out.is_i64());
        }
    }

    #[test]
    fn math_add_int_range_and_types() {
        let r = |e: &str| eval_with(e, json!({}));
        assert_eq!(
            r("States.MathAdd(2147483646, 1)").ok(),
            Some(json!(2147483647))
        );
        assert_eq!(
            r("States.MathAdd(-2147483647, -1)").ok(),
            Some(json!(-2147483648))
        );
        for bad in [
            "2147483647, 1",
            "-2147483648, -1",
            "3000000000, 1",
            "'a', 1",
            "null, 1",
            "true, 1",
            "'2', 1",
            "1",
        ] {
            assert!(r(&format!("States.MathAdd({bad})")).is_err(), "{bad}");
        }
    }

    #[test]
    fn math_random_ranges_and_seeds() {
        for _ in 0..200 {
            let v = eval_ok(
                "States.MathRandom($.FunctionInput.fst, $.FunctionInput.snd)",
                fi(json!(12.5), json!(44.51)),
            );
            let v = v.as_i64().unwrap_or(-1);
            assert!((12..44).contains(&v), "{v}");
            let v = eval_ok("States.MathRandom(1.6, 5.4)", json!({}))
                .as_i64()
                .unwrap_or(-1);
            assert!((1..5).contains(&v), "{v}");
        }
        let seeded = |e: &str| eval_ok(e, json!({}));
        assert_eq!(
            seeded("States.MathRandom(1, 100, 42)"),
            seeded("States.MathRandom(1, 100, 42)")
        );
        // AWS observation: seed 42 over [-5, 5) gives -5, as java.util.Random(42).nextInt(10) == 0.
        assert_eq!(seeded("States.MathRandom(-5, 5, 42)"), json!(-5));
        let v = eval_ok(
            "States.MathRandom($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)",
            json!({"FunctionInput": {"fst": 0, "snd": 999, "trd": 3}}),
        );
        assert!((0..999).contains(&v.as_i64().unwrap_or(-1)));
        for bad in [
            "1, 1",
            "10, 5",
            "1.49, 1.49",
            "1.4, 1.6",
            "'a', 10",
            "1, 10, 'seed'",
            "1, 10, null",
            "1",
            "1, 10, 5, 99",
        ] {
            eval_err(&format!("States.MathRandom({bad})"), json!({}));
        }
    }

    #[test]
    fn java_random_matches_known_sequences() {
        // new Random(0).nextInt(10) == 0, new Random(1).nextInt(100) == 85 (JDK documented runs).
        assert_eq!(JavaRandom::new(42).next_int(10), 0);
        assert_eq!(JavaRandom::new(1).next_int(100), 85);
        assert_eq!(JavaRandom::new(0).next_int(10), 0);
    }

    // --- test_string_operations.snapshot.json ---

    #[test]
    fn string_split_snapshot_cases() {
        let expr = "States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)";
        let cases = [
            (" ", ",", json!([" "])),
            (" , ", ",", json!([" ", " "])),
            (", , ,", ",", json!([" ", " "])),
            (",,,,", ",", json!([])),
            ("1,2,3,4,5", ",", json!(["1", "2", "3", "4", "5"])),
            (
                "This.is+a,test=string",
                ".+,=",
                json!(["This", "is", "a", "test", "string"]),
            ),
            (
                "split on T and \nnew line",
                "T\n",
                json!(["split on ", " and ", "new line"]),
            ),
        ];
        for (text, delimiters, expected) in cases {
            assert_eq!(
                eval_ok(expr, fi(json!(text), json!(delimiters))),
                expected,
                "{text:?}"
            );
        }
        let resolve = resolver(
            json!({}),
            json!({"Execution": {"Input": {"FunctionInput": "Value1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"}}}),
        );
        assert_eq!(
            evaluate(
                "States.StringSplit($$.Execution.Input.FunctionInput, ',')",
                &resolve
            )
            .ok(),
            Some(json!([
                "Value1",
                "Value2",
                "Value3\nValue4",
                "Value5",
                "Value6\n",
                "\ntrue",
                "1",
                "'HelloWorld'\nNull",
                "None",
                "\n   \n"
            ]))
        );
        assert_eq!(eval_ok("States.StringSplit('', ',')", json!({})), json!([]));
        assert_eq!(
            eval_ok("States.StringSplit('abc', '')", json!({})),
            json!(["abc"])
        );
        eval_err("States.StringSplit($.s, ',')", json!({"s": 123}));
        eval_err("States.StringSplit('a', $.d)", json!({"d": [","]}));
    }

    #[test]
    fn uuid_is_a_v4_uuid() {
        let v = eval_ok("States.UUID()", json!({}));
        let parsed = v.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok());
        assert_eq!(parsed.map(|u| u.get_version_num()), Some(4));
        eval_err("States.UUID(1)", json!({}));
    }

    // --- parser ---

    #[test]
    fn parser_accepts_whitespace_literals_and_complex_paths() {
        assert_eq!(
            eval_ok(
                "States.Array( $.a , -1.5e2, true, false, null, 'x' )",
                json!({"a": 1})
            ),
            json!([1, -150.0, true, false, null, "x"])
        );
        let resolve = |p: &str| Ok(json!(p));
        assert_eq!(
            evaluate("States.Array($.a[?(@.b == 'x, y')], $['k)'], $)", &resolve).ok(),
            Some(json!(["$.a[?(@.b == 'x, y')]", "$['k)']", "$"]))
        );
    }

    #[test]
    fn parser_rejects_malformed_expressions() {
        for bad in [
            "States.Array(",
            "States.Array($.a) trailing",
            "States.Array([1,2])",
            "States.Array(1.)",
            "States.Array(.5)",
            "States.Array(01)",
            "States.Array(1,)",
            "States.Array(,1)",
            "States.Array('unterminated)",
            "States.Array('bad \\n escape')",
            "States.Nope(1)",
            "States.array()",
            "States.Array(foo)",
            "States.Array",
            "",
        ] {
            let e = match check_syntax(bad) {
                Ok(()) => panic!("{bad:?} parsed"),
                Err(e) => e,
            };
            assert_eq!(e.error, "States.Runtime", "{bad:?}");
        }
    }

    #[test]
    fn path_errors_from_the_engine_pass_through() {
        let e = eval_err("States.Hash($.missing, 'SHA-256')", json!({}));
        assert_eq!(
            e.cause,
            "The JSONPath '$.missing' could not be found in the input"
        );
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let deep = format!("{}1{}", "States.Array(".repeat(200), ")".repeat(200));
        assert!(check_syntax(&deep).is_err());
        let ok = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
        assert!(check_syntax(&ok).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,80}") {
            let _ = check_syntax(&s);
            let _ = evaluate(&s, &|_p: &str| Ok(json!([1, "a"])));
        }

        #[test]
        fn intrinsic_shaped_input_never_panics(
            body in "(States\\.[A-Za-z]{0,14}\\(|\\$\\.[a-z]{0,3}|'[^']{0,6}'|-?[0-9]{1,3}(\\.[0-9])?|, ?|\\)|\\\\|\\{\\}|null|true){0,12}"
        ) {
            let expr = format!("States.{body}");
            let _ = evaluate(&expr, &|_p: &str| Ok(json!({"a": [1, 2.5, "x"]})));
        }
    }
}
