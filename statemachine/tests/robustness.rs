//! Malformed input is an error, never a panic.

use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[A-Za-z$.\\[\\]*?@=<>0-9 '\"_-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("Pass"),
            Just("Task"),
            Just("Choice"),
            Just("Map"),
            Just("Parallel"),
            Just("Wait"),
            Just("Fail"),
            Just("Succeed")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("StartAt".to_string()),
                    Just("States".to_string()),
                    Just("Type".to_string()),
                    Just("Next".to_string()),
                    Just("End".to_string()),
                    Just("Branches".to_string()),
                    Just("ItemProcessor".to_string()),
                    Just("Retry".to_string()),
                    Just("Catch".to_string()),
                    Just("ErrorEquals".to_string()),
                    Just("Parameters".to_string()),
                    Just("x.$".to_string()),
                    Just("Choices".to_string()),
                    Just("Variable".to_string()),
                    Just("A".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_json(v in arb_json()) {
        let text = v.to_string();
        let _ = statemachine::StateMachineDefinition::parse(&text);
        let _ = statemachine::validate(&text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,64}") {
        let _ = statemachine::StateMachineDefinition::parse(&s);
        let _ = statemachine::validate(&s);
    }

    #[test]
    fn paths_never_panic(p in "\\$[A-Za-z0-9$.\\[\\]*?@=<>:,'\"()!&|~/ -]{0,24}", v in arb_json()) {
        if let Ok(path) = statemachine::path::JsonPath::parse(&p) {
            let _ = path.select(&v);
            let mut target = v.clone();
            if path.is_reference() {
                let _ = path.set(&mut target, json!(1));
            }
        }
    }
}
