//! Output as rabbitmqctl prints it: informational lines, then a tab-separated table with a
//! header row, or with `--formatter json` an array of objects keyed by the column names.

use serde_json::Value;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Formatter {
    /// Tab-separated rows under a header row (rabbitmqctl's default).
    Table,
    /// One JSON array of objects, nothing else on stdout.
    Json,
}

/// The global output options.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub formatter: Formatter,
    /// `--quiet`: no informational lines.
    pub quiet: bool,
    /// `--no-table-headers`: no header row.
    pub no_headers: bool,
}

impl Output {
    /// An informational line ("Listing queues for vhost / ..."): not with --quiet, and not
    /// with --formatter json, whose stdout is the JSON alone.
    pub fn info(&self, line: &str) {
        if !self.quiet && self.formatter == Formatter::Table {
            line_out(line);
        }
    }

    /// What a command that changes something says it is doing (`Adding user "alice" ...`).
    pub fn action(&self, line: &str) {
        if !self.quiet {
            line_out(line);
        }
    }

    /// Rows of cells under `columns`. Like rabbitmqctl, no rows prints no header either.
    pub fn rows(&self, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match self.formatter {
            Formatter::Table => write_table(&mut out, columns, rows, !self.no_headers),
            Formatter::Json => write_json(&mut out, columns, rows),
        }
    }
}

/// A line on stdout; a closed stdout (`| head`) is not worth a panic, and the data that
/// follows reports it.
fn line_out(line: &str) {
    let _ = writeln!(io::stdout(), "{line}");
}

pub fn write_table(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Value>],
    headers: bool,
) -> io::Result<()> {
    if headers && !rows.is_empty() {
        writeln!(out, "{}", columns.join("\t"))?;
    }
    for row in rows {
        let cells: Vec<String> = row.iter().zip(columns).map(|(v, c)| cell(c, v)).collect();
        writeln!(out, "{}", cells.join("\t"))?;
    }
    Ok(())
}

/// rabbitmqctl's JSON layout: `[`, one object per line with a leading comma from the second
/// on, `]`. Keys keep the order the columns were asked in.
pub fn write_json(out: &mut impl Write, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
    writeln!(out, "[")?;
    for (i, row) in rows.iter().enumerate() {
        let fields: Vec<String> = columns
            .iter()
            .zip(row)
            .map(|(c, v)| format!("{}:{}", Value::from(c.as_str()), v))
            .collect();
        let lead = if i == 0 { "" } else { "," };
        writeln!(out, "{lead}{{{}}}", fields.join(","))?;
    }
    writeln!(out, "]")
}

/// One table cell: strings bare, null empty, lists as `[a, b]`, `arguments`-like tables as
/// Erlang proplists `[{"x-max-length",10}]`, other objects (a policy's definition) as JSON.
pub fn cell(column: &str, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| cell(column, i)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) if is_table(column) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{{{},{}}}", Value::from(k.as_str()), term(v)))
                .collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(_) => v.to_string(),
    }
}

/// Columns whose values are AMQP field tables, which rabbitmqctl prints as proplists.
fn is_table(column: &str) -> bool {
    matches!(column, "arguments" | "client_properties")
}

/// A value inside a proplist: strings quoted, tables nested.
fn term(v: &Value) -> String {
    match v {
        Value::Object(_) => cell("arguments", v),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(term).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Null => "undefined".into(),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(columns: &[&str], rows: &[Vec<Value>], headers: bool) -> String {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let mut out = Vec::new();
        write_table(&mut out, &columns, rows, headers).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_is_tab_separated_under_a_header() {
        let rows = vec![vec![json!("q1"), json!(3)], vec![json!("q2"), json!(0)]];
        assert_eq!(
            table(&["name", "messages"], &rows, true),
            "name\tmessages\nq1\t3\nq2\t0\n"
        );
        assert_eq!(table(&["name", "messages"], &rows, false), "q1\t3\nq2\t0\n");
        assert_eq!(table(&["name"], &[], true), "");
    }

    #[test]
    fn cells_look_like_rabbitmqctl() {
        assert_eq!(cell("durable", &json!(true)), "true");
        assert_eq!(cell("policy", &Value::Null), "");
        assert_eq!(cell("tags", &json!(["administrator"])), "[administrator]");
        assert_eq!(cell("tags", &json!([])), "[]");
        assert_eq!(cell("arguments", &json!({})), "[]");
        assert_eq!(
            cell(
                "arguments",
                &json!({"x-max-length": 10, "x-queue-type": "classic"})
            ),
            r#"[{"x-max-length",10},{"x-queue-type","classic"}]"#
        );
        assert_eq!(
            cell("definition", &json!({"max-length": 1})),
            r#"{"max-length":1}"#
        );
    }

    #[test]
    fn json_is_rabbitmqctls_layout_in_column_order() {
        let columns = vec!["name".to_string(), "messages".to_string()];
        let rows = vec![vec![json!("b"), json!(1)], vec![json!("a"), json!(2)]];
        let mut out = Vec::new();
        write_json(&mut out, &columns, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[\n{\"name\":\"b\",\"messages\":1}\n,{\"name\":\"a\",\"messages\":2}\n]\n"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[1]["messages"], 2);
    }
}
