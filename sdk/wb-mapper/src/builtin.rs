//! JMESPath's built-in functions. Types follow JMESPath, with one leniency
//! for Redis hashes, whose values are all strings: where a number is
//! expected (`abs`, `ceil`, `floor`, `sum`, `avg`), text that reads as a
//! number is accepted; and a null (missing) subject gives null, or false
//! for `contains`, `starts_with` and `ends_with`, rather than an error, so
//! records without a field are not rejected for it.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::func::Func;
use crate::logic::{number, truthy};
use crate::strings::text;
use crate::value::{set_entry, Val};

fn type_error<T>(func: Func, wanted: &str, got: &Val<'_>) -> Result<T, String> {
    let got = got.type_name().unwrap_or("invalid JSON");
    Err(format!("{}: expected {wanted}, got {got}", func.name()))
}

/// A number kept as an integer when it is one.
fn num_val(x: f64) -> Val<'static> {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Val::Int(x as i64)
    } else {
        Val::Float(x)
    }
}

fn as_number(func: Func, value: &Val<'_>) -> Result<f64, String> {
    match number(value) {
        Some(x) => Ok(x),
        None => type_error(func, "a number", value),
    }
}

fn as_array<'a>(func: Func, value: Val<'a>) -> Result<Vec<Val<'a>>, String> {
    let shown = value.clone();
    match value.into_array()? {
        Some(items) => Ok(items),
        None => type_error(func, "an array", &shown),
    }
}

fn as_object<'a>(func: Func, value: Val<'a>) -> Result<Vec<(Cow<'a, str>, Val<'a>)>, String> {
    let shown = value.clone();
    match value.into_object()? {
        Some(entries) => Ok(entries),
        None => type_error(func, "an object", &shown),
    }
}

fn as_text<'v>(func: Func, value: &'v Val<'_>) -> Result<Cow<'v, str>, String> {
    match value {
        Val::Str(_) | Val::Bytes(_) => Ok(text(value).unwrap_or_default()),
        other => type_error(func, "a string", other),
    }
}

/// The order `sort`, `max` and `min` use: all numbers or all strings.
fn order(func: Func, a: &Val<'_>, b: &Val<'_>) -> Result<Ordering, String> {
    match (a, b) {
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal))
        }
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        _ => Err(format!(
            "{}: expected numbers or strings, not a mix, got {} and {}",
            func.name(),
            a.type_name()?,
            b.type_name()?
        )),
    }
}

/// Elements resolved (so JSON text inside compares by value) and checked to
/// be orderable.
fn sortable<'a>(func: Func, items: Vec<Val<'a>>) -> Result<Vec<Val<'a>>, String> {
    let items = items
        .into_iter()
        .map(Val::resolved)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first) = items.first() {
        if !matches!(first, Val::Int(_) | Val::Float(_) | Val::Str(_)) {
            return type_error(func, "an array of numbers or strings", first);
        }
    }
    for pair in items.windows(2) {
        order(func, &pair[0], &pair[1])?;
    }
    Ok(items)
}

fn sort_vals<'a>(func: Func, mut items: Vec<Val<'a>>) -> Result<Vec<Val<'a>>, String> {
    items = sortable(func, items)?;
    items.sort_by(|a, b| order(func, a, b).unwrap_or(Ordering::Equal));
    Ok(items)
}

pub fn apply<'a>(func: Func, args: Vec<Val<'a>>) -> Result<Val<'a>, String> {
    if func == Func::NotNull {
        for arg in args {
            if arg.clone().resolved()? != Val::Null {
                return Ok(arg);
            }
        }
        return Ok(Val::Null);
    }
    if func == Func::Merge {
        let mut merged = Vec::new();
        for arg in args {
            for (key, value) in as_object(func, arg)? {
                set_entry(&mut merged, key, value);
            }
        }
        return Ok(Val::Object(merged));
    }
    let mut args = args.into_iter();
    let first = args.next().unwrap_or(Val::Null).resolved()?;
    let second = args.next().unwrap_or(Val::Null).resolved()?;
    let subject = if func == Func::Join { &second } else { &first };
    if *subject == Val::Null {
        match func {
            Func::Contains | Func::StartsWith | Func::EndsWith => return Ok(Val::Bool(false)),
            Func::ToString | Func::ToNumber | Func::ToArray | Func::Type => {}
            _ => return Ok(Val::Null),
        }
    }
    Ok(match func {
        Func::Length => match first {
            Val::Str(_) | Val::Bytes(_) => Val::Int(as_text(func, &first)?.chars().count() as i64),
            Val::Array(items) => Val::Int(items.len() as i64),
            Val::Object(entries) => Val::Int(entries.len() as i64),
            other => return type_error(func, "a string, an array or an object", &other),
        },
        Func::Keys => Val::Array(
            as_object(func, first)?
                .into_iter()
                .map(|(k, _)| Val::Str(k))
                .collect(),
        ),
        Func::Values => Val::Array(
            as_object(func, first)?
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        ),
        Func::Join => {
            let separator = as_text(func, &first)?.into_owned();
            let mut parts = Vec::new();
            for item in as_array(func, second)? {
                match item.resolved()? {
                    item @ (Val::Str(_) | Val::Bytes(_)) => {
                        parts.push(text(&item).unwrap_or_default().into_owned())
                    }
                    other => return type_error(func, "an array of strings", &other),
                }
            }
            Val::Str(Cow::Owned(parts.join(&separator)))
        }
        Func::Contains => match first {
            Val::Str(_) | Val::Bytes(_) => {
                let needle = match &second {
                    Val::Str(_) | Val::Bytes(_) => text(&second).unwrap_or_default(),
                    _ => return Ok(Val::Bool(false)),
                };
                Val::Bool(as_text(func, &first)?.contains(needle.as_ref()))
            }
            Val::Array(items) => {
                let mut found = false;
                for item in &items {
                    if crate::logic::CmpOp::Eq.holds(item, &second)? {
                        found = true;
                        break;
                    }
                }
                Val::Bool(found)
            }
            other => return type_error(func, "a string or an array", &other),
        },
        Func::StartsWith => {
            let (s, prefix) = (as_text(func, &first)?, as_text(func, &second)?);
            Val::Bool(s.starts_with(prefix.as_ref()))
        }
        Func::EndsWith => {
            let (s, suffix) = (as_text(func, &first)?, as_text(func, &second)?);
            Val::Bool(s.ends_with(suffix.as_ref()))
        }
        Func::ToString => match first {
            Val::Str(_) | Val::Bytes(_) => first,
            other => Val::Str(Cow::Owned(other.to_json())),
        },
        Func::ToNumber => match first {
            Val::Int(_) | Val::Float(_) => first,
            Val::Str(ref s) => match s.trim().parse::<i64>() {
                Ok(i) => Val::Int(i),
                Err(_) => s.trim().parse::<f64>().map_or(Val::Null, Val::Float),
            },
            _ => Val::Null,
        },
        Func::ToArray => match first {
            Val::Array(_) => first,
            other => Val::Array(vec![other]),
        },
        Func::Abs => match first {
            Val::Int(i) => Val::Int(i.saturating_abs()),
            other => num_val(as_number(func, &other)?.abs()),
        },
        Func::Ceil => num_val(as_number(func, &first)?.ceil()),
        Func::Floor => num_val(as_number(func, &first)?.floor()),
        Func::Sum | Func::Avg => {
            let items = as_array(func, first)?;
            let count = items.len();
            let mut int_sum: Option<i64> = Some(0);
            let mut sum = 0.0;
            for item in items {
                let item = item.resolved()?;
                sum += as_number(func, &item)?;
                int_sum = match (int_sum, &item) {
                    (Some(total), Val::Int(i)) => total.checked_add(*i),
                    _ => None,
                };
            }
            match (func, int_sum) {
                (Func::Avg, _) if count == 0 => Val::Null,
                (Func::Avg, _) => Val::Float(sum / count as f64),
                (_, Some(total)) => Val::Int(total),
                _ => Val::Float(sum),
            }
        }
        Func::Max | Func::Min => {
            let items = sortable(func, as_array(func, first)?)?;
            let mut best: Option<Val<'a>> = None;
            for item in items {
                let better = match &best {
                    None => true,
                    Some(current) => {
                        let o = order(func, &item, current)?;
                        (func == Func::Max && o == Ordering::Greater)
                            || (func == Func::Min && o == Ordering::Less)
                    }
                };
                if better {
                    best = Some(item);
                }
            }
            best.unwrap_or(Val::Null)
        }
        Func::Sort => Val::Array(sort_vals(func, as_array(func, first)?)?),
        Func::Reverse => match first {
            Val::Array(mut items) => {
                items.reverse();
                Val::Array(items)
            }
            Val::Str(_) | Val::Bytes(_) => {
                Val::Str(Cow::Owned(as_text(func, &first)?.chars().rev().collect()))
            }
            other => return type_error(func, "a string or an array", &other),
        },
        Func::Type => Val::Str(Cow::Borrowed(first.type_name()?)),
        other => return Err(format!("{} is not a JMESPath built-in", other.name())),
    })
}

/// `sort_by`, `max_by`, `min_by` and `map`, whose `&expression` `by`
/// evaluates against each element.
pub fn apply_by<'a>(
    func: Func,
    subject: Val<'a>,
    by: &mut dyn FnMut(&Val<'a>) -> Result<Val<'a>, String>,
) -> Result<Val<'a>, String> {
    let items = as_array(func, subject)?;
    if func == Func::Map {
        return Ok(Val::Array(
            items.iter().map(&mut *by).collect::<Result<_, _>>()?,
        ));
    }
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        keyed.push((by(&item)?.resolved()?, item));
    }
    let keys = sortable(func, keyed.iter().map(|(k, _)| k.clone()).collect())?;
    for (slot, key) in keyed.iter_mut().zip(keys) {
        slot.0 = key;
    }
    match func {
        Func::SortBy => {
            keyed.sort_by(|a, b| order(func, &a.0, &b.0).unwrap_or(Ordering::Equal));
            Ok(Val::Array(keyed.into_iter().map(|(_, v)| v).collect()))
        }
        _ => {
            let want = if func == Func::MaxBy {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            let mut best: Option<(Val<'a>, Val<'a>)> = None;
            for (key, item) in keyed {
                let better = match &best {
                    None => true,
                    Some((best_key, _)) => order(func, &key, best_key)? == want,
                };
                if better {
                    best = Some((key, item));
                }
            }
            Ok(best.map_or(Val::Null, |(_, item)| item))
        }
    }
}

/// Whether `filter_entries`' predicate holds for one entry.
pub fn holds<'a>(
    by: &mut dyn FnMut(&Val<'a>) -> Result<Val<'a>, String>,
    entry: &Val<'a>,
) -> Result<bool, String> {
    truthy(&by(entry)?)
}
