//! RabbitMQ's list query parameters, applied to any list the API returns: `name` filter
//! (substring, case-insensitive, or a regex with `use_regex=true`), `sort` by a field path
//! (`message_stats.publish_details.rate`) and `sort_reverse`, `columns` to project, and
//! `page`/`page_size` pagination with its envelope.

use super::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// RabbitMQ's largest page.
const MAX_PAGE_SIZE: u64 = 500;
const DEFAULT_PAGE_SIZE: u64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    page: Option<u64>,
    page_size: Option<u64>,
    name: Option<String>,
    use_regex: Option<String>,
    sort: Option<String>,
    sort_reverse: Option<String>,
    columns: Option<String>,
}

/// The value at a dotted path of a JSON object.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// Orders JSON values as a sort column: missing first, then numbers, then strings.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// Keeps only the listed columns (dotted paths keep their nesting).
fn project(item: &Value, columns: &[&str]) -> Value {
    let mut out = Map::new();
    for col in columns {
        let Some(v) = at(item, col) else {
            continue;
        };
        let mut parts: Vec<&str> = col.split('.').collect();
        let Some(last) = parts.pop() else {
            continue;
        };
        let mut node = &mut out;
        for p in parts {
            let entry = node
                .entry(p.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(m) = entry else {
                unreachable!("made an object just above")
            };
            node = m;
        }
        node.insert(last.to_owned(), v.clone());
    }
    Value::Object(out)
}

impl ListQuery {
    /// No parameter asks to filter, sort, project or page: the list goes out as it is.
    pub fn is_plain(&self) -> bool {
        self.page.is_none()
            && self.name.as_deref().is_none_or(str::is_empty)
            && self.sort.as_deref().is_none_or(str::is_empty)
            && self.sort_reverse.is_none()
            && self.columns.as_deref().is_none_or(str::is_empty)
    }

    /// Applies the query to `items` (already in the default order): the plain list, or the
    /// paginated envelope when `page` is given.
    pub fn apply(&self, items: Vec<Value>) -> Result<Value, ApiError> {
        self.apply_by(
            items,
            |v| v.get("name").and_then(Value::as_str),
            |a, b, path| compare(at(a, path), at(b, path)),
            |v| v,
        )
    }

    /// The field the list is sorted by, if any.
    pub fn sort_path(&self) -> Option<&str> {
        self.sort.as_deref().filter(|s| !s.is_empty())
    }

    /// `apply` over any rows: filtered by `name_of`, ordered by `order` (given the sort
    /// path), and only the rows returned are `render`ed to JSON, so a page of a long list
    /// costs its page.
    pub fn apply_by<T>(
        &self,
        mut items: Vec<T>,
        name_of: impl Fn(&T) -> Option<&str>,
        order: impl Fn(&T, &T, &str) -> Ordering,
        render: impl Fn(T) -> Value,
    ) -> Result<Value, ApiError> {
        let total = items.len() as u64;
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            let keep: Box<dyn Fn(&str) -> bool> = if self.use_regex.as_deref() == Some("true") {
                match regex::Regex::new(name) {
                    Ok(re) => Box::new(move |s| re.is_match(s)),
                    Err(_) => Box::new(|_| false),
                }
            } else {
                let needle = name.to_lowercase();
                Box::new(move |s| s.to_lowercase().contains(&needle))
            };
            items.retain(|i| name_of(i).is_some_and(&keep));
        }
        if let Some(sort) = self.sort_path() {
            items.sort_by(|a, b| order(a, b, sort));
        }
        if self.sort_reverse.as_deref() == Some("true") {
            items.reverse();
        }
        let columns: Vec<&str> = self
            .columns
            .as_deref()
            .map(|c| {
                c.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let project_all = |items: Vec<T>| -> Vec<Value> {
            let items = items.into_iter().map(&render);
            if columns.is_empty() {
                items.collect()
            } else {
                items.map(|i| project(&i, &columns)).collect()
            }
        };
        let Some(page) = self.page else {
            return Ok(Value::Array(project_all(items)));
        };
        let page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ApiError::with(
                "invalid_pagination_parameters",
                format!("Invalid pagination parameters: page number {page}, page size {page_size}"),
            ));
        }
        let filtered = items.len() as u64;
        let page_count = filtered.div_ceil(page_size);
        if page > page_count.max(1) {
            return Err(ApiError::with(
                "page_out_of_range",
                format!("Page out of range, page: {page} page size: {page_size}, len: {filtered}"),
            ));
        }
        let start = ((page - 1) * page_size) as usize;
        let slice: Vec<T> = items
            .into_iter()
            .skip(start)
            .take(page_size as usize)
            .collect();
        let slice = project_all(slice);
        Ok(json!({
            "filtered_count": filtered,
            "item_count": slice.len(),
            "items": slice,
            "page": page,
            "page_count": page_count,
            "page_size": page_size,
            "total_count": total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query of a request for `/api/queues?{s}`, parsed as axum parses it.
    fn q(s: &str) -> ListQuery {
        let uri: axum::http::Uri = format!("/api/queues?{s}").parse().expect("a URI");
        axum::extract::Query::<ListQuery>::try_from_uri(&uri)
            .expect("a valid query")
            .0
    }

    fn items() -> Vec<Value> {
        vec![
            json!({"name": "b", "messages": 3, "stats": {"rate": 1.5}}),
            json!({"name": "a", "messages": 10, "stats": {"rate": 0.5}}),
            json!({"name": "Cb", "messages": 1}),
        ]
    }

    #[test]
    fn sorts_by_paths_and_reverses() {
        let v = q("sort=messages&sort_reverse=true&columns=name").apply(items());
        assert_eq!(
            v.ok(),
            Some(json!([{"name": "a"}, {"name": "b"}, {"name": "Cb"}]))
        );
        let v = q("sort=stats.rate&columns=name,stats.rate").apply(items());
        assert_eq!(
            v.ok(),
            Some(
                json!([{"name": "Cb"}, {"name": "a", "stats": {"rate": 0.5}}, {"name": "b", "stats": {"rate": 1.5}}])
            )
        );
    }

    #[test]
    fn filters_and_pages_like_rabbitmq() {
        let v = q("page=1&page_size=1&name=B&columns=name").apply(items());
        assert_eq!(
            v.ok(),
            Some(
                json!({"filtered_count": 2, "item_count": 1, "items": [{"name": "b"}],
                "page": 1, "page_count": 2, "page_size": 1, "total_count": 3})
            )
        );
        assert!(q("page=3&page_size=1").apply(items()).is_ok());
        assert!(q("page=4&page_size=1").apply(items()).is_err());
        assert!(q("page=1&page_size=501").apply(items()).is_err());
        let v = q("name=^C&use_regex=true&columns=name").apply(items());
        assert_eq!(v.ok(), Some(json!([{"name": "Cb"}])));
    }
}
