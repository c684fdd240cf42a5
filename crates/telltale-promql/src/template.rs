//! The subset of Go's text/template that Prometheus alert annotations use: `{{ $value }}`,
//! `{{ $labels.name }}`, `{{ .Value }}`, `{{ .Labels.name }}`, `{{ $externalLabels.name }}`,
//! `{{ $externalURL }}`, pipelines into `humanize`, `humanizePercentage`, `printf`, `toUpper`,
//! `toLower`, and `{{-`/`-}}` trimming. Control actions (`if`, `range`…) are refused.

use crate::store::Labels;
use crate::Error;

/// What a template sees.
pub(crate) struct Data<'a> {
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Num(f64),
}

impl Val {
    fn render(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(v) => go_float_v(*v),
        }
    }
}

pub(crate) fn expand(template: &str, data: &Data<'_>) -> Result<String, Error> {
    let err = |message: String| Error::Template {
        template: template.to_owned(),
        message,
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        let after = &rest[open + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        out.push_str(text);
        let close = after
            .find("}}")
            .ok_or_else(|| err("unclosed action".into()))?;
        let mut action = &after[..close];
        let trim_right =
            action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-");
        if trim_left {
            action = &action[1..];
        }
        if trim_right {
            action = &action[..action.len() - 1];
        }
        let value = pipeline(action.trim(), data).map_err(|m| {
            if m.starts_with("unsupported") {
                Error::unsupported(format!("template construct in {template:?}: {m}"))
            } else {
                err(m)
            }
        })?;
        out.push_str(&value.render());
        rest = &after[close + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn pipeline(action: &str, data: &Data<'_>) -> Result<Val, String> {
    if action.starts_with("/*") {
        return Ok(Val::Str(String::new()));
    }
    let mut prev: Option<Val> = None;
    for command in split_outside_quotes(action, '|') {
        let words = words(command.trim())?;
        let Some(first) = words.first() else {
            return Err("empty command".into());
        };
        if REFUSED.contains(&first.as_str()) {
            return Err(format!(
                "unsupported template function or action {first:?} (telltale implements a subset)"
            ));
        }
        let mut args = Vec::new();
        for w in &words[1..] {
            args.push(operand(w, data)?);
        }
        if let Some(p) = prev.take() {
            args.push(p);
        }
        prev = Some(match first.as_str() {
            "humanize" | "humanizePercentage" | "toUpper" | "toLower" | "printf" => {
                function(first, args)?
            }
            _ => {
                if words.len() > 1 {
                    return Err(format!("{first:?} is not a function"));
                }
                if !args.is_empty() {
                    return Err(format!("cannot pipe into {first:?}"));
                }
                operand(first, data)?
            }
        });
    }
    prev.ok_or_else(|| "empty action".into())
}

/// Go template actions and Prometheus template functions this subset does not implement.
const REFUSED: &[&str] = &[
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "len",
    "index",
    "slice",
    "call",
    "html",
    "js",
    "urlquery",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "println",
    "query",
    "first",
    "label",
    "value",
    "reReplaceAll",
    "title",
    "match",
    "humanize1024",
    "humanizeDuration",
    "humanizeTimestamp",
    "safeHtml",
    "args",
    "tmpl",
    "strvalue",
    "sortByLabel",
    "graphLink",
    "tableLink",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "toTime",
    "stripPort",
    "stripDomain",
];

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => w.push('\n'),
                        Some('t') => w.push('\t'),
                        Some(o) => w.push(o),
                        None => break,
                    }
                } else if c == '"' {
                    closed = true;
                    break;
                } else {
                    w.push(c);
                }
            }
            if !closed {
                return Err("unterminated string".into());
            }
            out.push(w);
        } else if c == '(' || c == '`' {
            return Err(format!(
                "unsupported template syntax {c:?} (telltale implements a subset)"
            ));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn operand(w: &str, data: &Data<'_>) -> Result<Val, String> {
    if let Some(s) = w.strip_prefix('"') {
        return Ok(Val::Str(s.to_owned()));
    }
    let lookup = |map: &Labels, key: &str| Val::Str(map.get(key).cloned().unwrap_or_default());
    match w {
        "$value" | ".Value" => return Ok(Val::Num(data.value)),
        "$externalURL" | ".ExternalURL" => return Ok(Val::Str(data.external_url.to_owned())),
        _ => {}
    }
    for (prefix, map) in [
        ("$labels.", data.labels),
        (".Labels.", data.labels),
        ("$externalLabels.", data.external_labels),
        (".ExternalLabels.", data.external_labels),
    ] {
        if let Some(key) = w.strip_prefix(prefix) {
            if key.contains('.') || key.is_empty() {
                return Err(format!("unsupported field chain {w:?}"));
            }
            return Ok(lookup(map, key));
        }
    }
    if let Ok(v) = w.parse::<f64>() {
        return Ok(Val::Num(v));
    }
    Err(format!(
        "unsupported operand {w:?} (telltale implements a subset)"
    ))
}

fn as_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Num(n) => Ok(*n),
        Val::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("cannot convert {s:?} to a number")),
    }
}

fn function(name: &str, args: Vec<Val>) -> Result<Val, String> {
    let one = |args: &[Val]| -> Result<Val, String> {
        match args {
            [v] => Ok(v.clone()),
            _ => Err(format!("{name} takes one argument")),
        }
    };
    match name {
        "humanize" => {
            let mut v = as_float(&one(&args)?)?;
            if v == 0.0 || v.is_nan() || v.is_infinite() {
                return Ok(Val::Str(go_g(v, 4)));
            }
            let mut prefix = "";
            if v.abs() >= 1.0 {
                for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
                    if v.abs() < 1000.0 {
                        break;
                    }
                    prefix = p;
                    v /= 1000.0;
                }
            } else {
                for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
                    if v.abs() >= 1.0 {
                        break;
                    }
                    prefix = p;
                    v *= 1000.0;
                }
            }
            Ok(Val::Str(format!("{}{prefix}", go_g(v, 4))))
        }
        "humanizePercentage" => Ok(Val::Str(format!(
            "{}%",
            go_g(as_float(&one(&args)?)? * 100.0, 4)
        ))),
        "toUpper" => Ok(Val::Str(one(&args)?.render().to_uppercase())),
        "toLower" => Ok(Val::Str(one(&args)?.render().to_lowercase())),
        _ => {
            let Some((Val::Str(format), rest)) = args.split_first() else {
                return Err("printf needs a format string".into());
            };
            printf(format, rest)
        }
    }
}

fn printf(format: &str, args: &[Val]) -> Result<Val, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let verb = chars.next().ok_or("printf format ends in %")?;
        let arg = args.next().ok_or("printf: missing argument")?;
        match verb {
            'f' => out.push_str(&format!("{:.*}", precision.unwrap_or(6), as_float(arg)?)),
            'g' => out.push_str(&match precision {
                Some(p) => go_g(as_float(arg)?, p.max(1)),
                None => go_float_v(as_float(arg)?),
            }),
            'd' => match arg {
                Val::Num(n) if n.fract() == 0.0 => out.push_str(&format!("{}", *n as i64)),
                _ => return Err("printf %d of a non-integer (Go prints %!d)".into()),
            },
            's' | 'v' if precision.is_none() => out.push_str(&arg.render()),
            other => {
                return Err(format!(
                    "unsupported printf verb %{other} (telltale implements %f %g %d %s %v)"
                ))
            }
        }
    }
    if args.next().is_some() {
        return Err("printf: extra arguments (Go prints %!(EXTRA …))".into());
    }
    Ok(Val::Str(out))
}

/// Go's `%v` of a float64: shortest digits, exponent form when the decimal exponent is below -4
/// or at least 6 (strconv's rule for the shortest `%g`).
pub(crate) fn go_float_v(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').expect("Rust's {:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..6).contains(&exp) {
        return format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    format!("{v}")
}

/// Go's `%.{p}g`: `p` significant digits, trailing zeros dropped, exponent form when the
/// exponent is below -4 or at least `p`.
pub(crate) fn go_g(v: f64, p: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let e = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = e.split_once('e').expect("Rust's {:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if exp < -4 || exp >= p as i32 {
        format!(
            "{}e{}{:02}",
            trim(mantissa),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{:.*}", decimals, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, value: f64) -> Result<String, Error> {
        let labels: Labels = [("instance".to_string(), "a:9100".to_string())].into();
        let ext = Labels::new();
        expand(
            t,
            &Data {
                labels: &labels,
                external_labels: &ext,
                external_url: "http://x",
                value,
            },
        )
    }

    #[test]
    fn formats_as_go_does() {
        assert_eq!(go_float_v(0.5), "0.5");
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(1e-5), "1e-05");
        assert_eq!(go_g(1234.5678, 4), "1235");
        assert_eq!(go_g(0.0123456, 4), "0.01235");
        assert_eq!(go_g(12345.0, 4), "1.234e+04");
    }

    #[test]
    fn expands_the_subset() {
        assert_eq!(
            run("{{ $labels.instance }} at {{ $value }}", 0.25).unwrap(),
            "a:9100 at 0.25"
        );
        assert_eq!(run("{{ $value | humanize }}", 1234567.0).unwrap(), "1.235M");
        assert_eq!(
            run("{{ $value | humanizePercentage }}", 0.0123).unwrap(),
            "1.23%"
        );
        assert_eq!(run("{{ printf \"%.2f\" $value }}s", 2.0).unwrap(), "2.00s");
        assert_eq!(run("{{ .Labels.missing }}-", 0.0).unwrap(), "-");
        assert_eq!(run("a {{- \" b\" -}} c", 0.0).unwrap(), "a bc");
    }

    #[test]
    fn refuses_control_actions() {
        let e = run("{{ if gt $value 1.0 }}x{{ end }}", 2.0).unwrap_err();
        assert!(
            e.is_unsupported() && e.to_string().contains("\"if\""),
            "{e}"
        );
        assert!(run("{{ $value | humanizeDuration }}", 2.0)
            .unwrap_err()
            .is_unsupported());
    }
}
