//! Field tables as RabbitMQ's JSON shows and takes them (definitions files, the management
//! API): one mapping, both ways.

use crate::protocol::{FieldTable, FieldValue};
use serde_json::{Map, Value};

/// A JSON argument value as a field-table value, typed as RabbitMQ types them: integers
/// become long longs, other numbers doubles, strings long strings.
pub fn field_value(v: &Value) -> Option<FieldValue> {
    Some(match v {
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64()?),
        },
        Value::String(s) => FieldValue::LongString(s.clone().into_bytes().into()),
        Value::Array(a) => FieldValue::Array(a.iter().filter_map(field_value).collect()),
        Value::Object(o) => FieldValue::Table(table(o)),
        Value::Null => FieldValue::Void,
    })
}

/// A JSON object as a field table.
pub fn table(args: &Map<String, Value>) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in args {
        if let Some(v) = field_value(v) {
            t.insert(k.clone(), v);
        }
    }
    t
}

/// A field-table value as JSON; strings that are not UTF-8 are shown with replacement
/// characters, as text is what the API's readers expect.
pub fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::I8(n) => (*n).into(),
        FieldValue::U8(n) => (*n).into(),
        FieldValue::I16(n) => (*n).into(),
        FieldValue::U16(n) => (*n).into(),
        FieldValue::I32(n) => (*n).into(),
        FieldValue::U32(n) => (*n).into(),
        FieldValue::I64(n) => (*n).into(),
        FieldValue::U64(n) => (*n).into(),
        FieldValue::Timestamp(n) => (*n).into(),
        FieldValue::F32(f) => f64::from(*f).into(),
        FieldValue::F64(f) => (*f).into(),
        FieldValue::Decimal(d) => (f64::from(d.value) / 10f64.powi(i32::from(d.scale))).into(),
        FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        FieldValue::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        FieldValue::Table(t) => table_json(t),
        FieldValue::Void => Value::Null,
    }
}

/// A field table as a JSON object.
pub fn table_json(t: &FieldTable) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.to_owned(), value_json(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_a_round_trip() {
        let json = serde_json::json!({
            "x-message-ttl": 1000, "x-dead-letter-exchange": "dlx", "ratio": 0.5,
            "on": true, "list": [1, "a"], "nested": {"k": "v"}, "none": null
        });
        let Value::Object(o) = &json else {
            panic!("an object")
        };
        assert_eq!(table_json(&table(o)), json);
    }
}
