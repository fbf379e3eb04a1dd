//! States with `QueryLanguage: JSONata`: `Arguments`, `Output`, `Assign`, `Items`,
//! `ItemSelector`, Choice `Condition`, Catch `Output`/`Assign`, Fail `Error`/`Cause`, and the
//! number fields given as expressions, all evaluated with `$states` (`input`, `result`,
//! `errorOutput`, `context`) and the workflow variables.
//!
//! A field that cannot be evaluated records `EvaluationFailed` (AWS's event for
//! `States.QueryEvaluationError`) in the state's thread and fails the state.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    Flow, MAX_WAIT_SECONDS, Run, TaskTimeouts, Thread, ToleratedLimits, after_seconds,
    apply_assignments, details, with_map_item,
};
use crate::choice::parse_timestamp;
use crate::definition::{Catcher, MapSpec, State, StateKind};
use crate::history::HistoryEvent;
use crate::payload::{StateError, to_text};
use crate::query::{self, FieldError, StatesVar};

impl Run {
    /// Records `EvaluationFailed` for a field that could not be evaluated and returns the
    /// state's failure. AWS links the event to the event before `…StateEntered` (the state
    /// had not started), except for a Wait state's `Seconds`/`Timestamp`, evaluated once the
    /// state is under way.
    pub(super) fn evaluation_failed(
        &self,
        th: &mut Thread,
        state: &State,
        entered: &HistoryEvent,
        e: FieldError,
        after_entered: bool,
    ) -> Flow {
        let cause = format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            state.name, entered.id, e.cause
        );
        let prev = if !after_entered && th.prev == entered.id {
            entered.previous_event_id
        } else {
            th.prev
        };
        let mut pairs = vec![
            ("cause", Value::String(cause.clone())),
            ("error", Value::String(e.error.clone())),
        ];
        if let Some(location) = e.location {
            pairs.push(("location", Value::String(location)));
        }
        pairs.push(("state", Value::String(state.name.clone())));
        match self.emit_at(th, prev, "EvaluationFailed", details(pairs)) {
            Ok(ev) if !th.silent => th.prev = ev.id,
            Ok(_) => {}
            Err(flow) => return flow,
        }
        // The state ended with this event: nothing of it is left to abort.
        th.set_current(None);
        Flow::Fail(StateError {
            error: e.error,
            cause: Some(cause),
        })
    }

    pub(super) async fn run_jsonata_state_body(
        &self,
        state: &State,
        input: Value,
        th: &mut Thread,
        entered: &HistoryEvent,
    ) -> Result<(Option<String>, Value), Flow> {
        let ctx = self.context(state, &entered.timestamp, None);
        let vars = th.vars.clone();
        let b = query::bindings(
            &vars,
            &StatesVar::of_input(&input, &ctx),
            self.engine.clock.now(),
        );
        let c = &state.common;
        // The state's own `Assign` and `Output` (a Choice rule may bring its own instead).
        let own_fields = (c.assign.as_ref(), c.output.as_ref());
        match &state.kind {
            StateKind::Pass { .. } => {
                let out = self.finish_jsonata(th, state, entered, own_fields, &b, &input)?;
                Ok((Self::next_of(state), out))
            }
            StateKind::Succeed => {
                let out =
                    self.finish_jsonata(th, state, entered, (None, c.output.as_ref()), &b, &input)?;
                Ok((None, out))
            }
            StateKind::Fail => {
                let err = jsonata_fail_error(state, &b)
                    .map_err(|e| self.evaluation_failed(th, state, entered, e, false))?;
                Err(Flow::Fail(err))
            }
            StateKind::Choice { choices, default } => {
                let mut chosen = None;
                for rule in choices {
                    let condition = rule.get("Condition").unwrap_or(&Value::Bool(false));
                    let matched = query::eval_condition(condition, &b)
                        .map_err(|e| self.evaluation_failed(th, state, entered, e, false))?;
                    if matched {
                        chosen = Some(rule);
                        break;
                    }
                }
                let (next, fields) = match (chosen, default) {
                    (Some(rule), _) => (
                        rule.get("Next")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        (rule.get("Assign"), rule.get("Output")),
                    ),
                    (None, Some(d)) => (d.clone(), own_fields),
                    (None, None) => {
                        return Err(Flow::Fail(StateError::new(
                            "States.NoChoiceMatched",
                            format!(
                                "No Matches! Choice state '{}' has no rule matching its input and no Default.",
                                state.name
                            ),
                        )));
                    }
                };
                let out = self.finish_jsonata(th, state, entered, fields, &b, &input)?;
                Ok((Some(next), out))
            }
            StateKind::Wait => {
                let until = jsonata_wait_target(state, &b, &entered.timestamp)
                    .map_err(|e| self.evaluation_failed(th, state, entered, e, true))?;
                if (until - entered.timestamp).num_seconds() > MAX_WAIT_SECONDS {
                    return Err(Flow::Fail(StateError::runtime(
                        "Wait state delay is too long.",
                    )));
                }
                if self.take_recorded_peek_exit(th, state).is_none() {
                    self.sleep_until(th, until).await?;
                }
                let out = self.finish_jsonata(th, state, entered, own_fields, &b, &input)?;
                Ok((Self::next_of(state), out))
            }
            StateKind::Task { .. } | StateKind::Parallel { .. } | StateKind::Map(_) => {
                self.run_with_retry(state, input, th, entered).await
            }
        }
    }

    /// `Assign` and `Output` of a JSONata state (or catcher, or Choice rule): both see the
    /// variables as they were when the state started; the assignments take effect after.
    fn finish_jsonata(
        &self,
        th: &mut Thread,
        state: &State,
        entered: &HistoryEvent,
        (assign, output): (Option<&Value>, Option<&Value>),
        b: &query::Bindings,
        default_output: &Value,
    ) -> Result<Value, Flow> {
        let evaluated = (|| {
            let assigned = assign.map(|a| query::eval_assign(a, b)).transpose()?;
            let out = match output {
                Some(o) => query::eval_template(o, "Output", b)?,
                None => default_output.clone(),
            };
            Ok::<_, FieldError>((assigned, out))
        })();
        let (assigned, out) =
            evaluated.map_err(|e| self.evaluation_failed(th, state, entered, e, false))?;
        if let Some(values) = assigned {
            apply_assignments(th, values);
        }
        Ok(out)
    }

    /// One attempt of a JSONata Task, Parallel or Map state.
    pub(super) async fn attempt_jsonata(
        &self,
        state: &State,
        input: &Value,
        th: &mut Thread,
        ctx: &Value,
        (retry_count, visit): (u32, u32),
        entered: &HistoryEvent,
    ) -> Result<Value, Flow> {
        let c = &state.common;
        let vars = th.vars.clone();
        let b = query::bindings(
            &vars,
            &StatesVar::of_input(input, ctx),
            self.engine.clock.now(),
        );
        let arguments = |th: &mut Thread| match &c.arguments {
            Some(a) => query::eval_template(a, "Arguments", &b)
                .map_err(|e| self.evaluation_failed(th, state, entered, e, false)),
            None => Ok(input.clone()),
        };
        let result = match &state.kind {
            StateKind::Task { .. } => {
                let args = arguments(th)?;
                let timeouts = jsonata_task_timeouts(state, &b)
                    .map_err(|e| self.evaluation_failed(th, state, entered, e, false))?;
                self.run_task(state, args, timeouts, th, retry_count)
                    .await?
            }
            StateKind::Parallel { branches } => {
                let args = arguments(th)?;
                self.run_parallel(state, branches, args, th, visit, retry_count)
                    .await?
            }
            StateKind::Map(spec) => {
                let query = super::MapQuery::Jsonata {
                    input,
                    context: ctx,
                    vars: &vars,
                };
                self.run_map(state, spec, query, th, (visit, retry_count), entered)
                    .await?
            }
            _ => input.clone(),
        };
        let b = query::bindings(
            &vars,
            &StatesVar {
                input,
                context: ctx,
                result: Some(&result),
                error_output: None,
            },
            self.engine.clock.now(),
        );
        self.finish_jsonata(
            th,
            state,
            entered,
            (c.assign.as_ref(), c.output.as_ref()),
            &b,
            &result,
        )
    }

    /// A JSONata catcher: its `Assign` and `Output` (default: the error output) see
    /// `$states.input` and `$states.errorOutput`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn catch_jsonata(
        &self,
        state: &State,
        catcher: &Catcher,
        input: &Value,
        err: StateError,
        th: &mut Thread,
        ctx: &Value,
        entered: &HistoryEvent,
    ) -> Result<(String, Value), Flow> {
        let vars = th.vars.clone();
        let error_output = err.to_output();
        let b = query::bindings(
            &vars,
            &StatesVar {
                input,
                context: ctx,
                result: None,
                error_output: Some(&error_output),
            },
            self.engine.clock.now(),
        );
        let out = self.finish_jsonata(
            th,
            state,
            entered,
            (catcher.assign.as_ref(), catcher.output.as_ref()),
            &b,
            &error_output,
        )?;
        Ok((catcher.next.clone(), out))
    }
}

/// A JSONata Fail state's `Error` and `Cause` (literals or expressions).
fn jsonata_fail_error(state: &State, b: &query::Bindings) -> Result<StateError, FieldError> {
    let field = |name: &str| {
        state
            .raw
            .get(name)
            .map(|v| query::eval_string(v, name, b))
            .transpose()
    };
    Ok(StateError {
        error: field("Error")?.unwrap_or_default(),
        cause: field("Cause")?,
    })
}

/// The end of a JSONata Wait state: `Seconds` (a non-negative integer) or `Timestamp`.
fn jsonata_wait_target(
    state: &State,
    b: &query::Bindings,
    entered: &DateTime<Utc>,
) -> Result<DateTime<Utc>, FieldError> {
    if let Some(field) = state.raw.get("Seconds") {
        let seconds = query::eval_count(field, "Seconds", b)?;
        return Ok(after_seconds(
            *entered,
            i64::try_from(seconds).unwrap_or(i64::MAX),
        ));
    }
    if let Some(field) = state.raw.get("Timestamp") {
        let value = query::eval_template(field, "Timestamp", b)?;
        let text = match &value {
            Value::String(s) => s.clone(),
            other => to_text(other),
        };
        return value
            .as_str()
            .and_then(parse_timestamp)
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                FieldError::query(
                    Some("Timestamp"),
                    format!(
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
                    ),
                )
            });
    }
    Ok(*entered)
}

/// `TimeoutSeconds` and `HeartbeatSeconds` of a JSONata Task.
fn jsonata_task_timeouts(state: &State, b: &query::Bindings) -> Result<TaskTimeouts, FieldError> {
    let StateKind::Task {
        timeout_seconds,
        heartbeat_seconds,
        ..
    } = &state.kind
    else {
        return Ok(TaskTimeouts::default());
    };
    Ok(TaskTimeouts {
        timeout: timeout_seconds
            .as_ref()
            .map(|v| query::eval_count(v, "TimeoutSeconds", b))
            .transpose()?,
        heartbeat: heartbeat_seconds
            .as_ref()
            .map(|v| query::eval_count(v, "HeartbeatSeconds", b))
            .transpose()?,
    })
}

/// A JSONata Map's iteration inputs (`Items`, else the state input, each through
/// `ItemSelector`) and `MaxConcurrency` (0: no limit).
pub(super) fn jsonata_map_inputs(
    state: &State,
    spec: &MapSpec,
    input: &Value,
    context: &Value,
    vars: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(Vec<Value>, usize), FieldError> {
    let b = query::bindings(vars, &StatesVar::of_input(input, context), now);
    let items = match &spec.items {
        Some(field) => query::eval_items(field, &b)?,
        None => match input {
            Value::Array(items) => items.clone(),
            other => {
                return Err(FieldError::query(
                    None,
                    format!(
                        "Map state input must be an array but was: {}",
                        to_text(other)
                    ),
                ));
            }
        },
    };
    let max_concurrency = match state.raw.get("MaxConcurrency") {
        Some(field) => {
            usize::try_from(query::eval_count(field, "MaxConcurrency", &b)?).unwrap_or(usize::MAX)
        }
        None => 0,
    };
    let inputs = match &spec.item_selector {
        Some(selector) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let ctx = with_map_item(context, i, item);
                let b = query::bindings(vars, &StatesVar::of_input(input, &ctx), now);
                query::eval_template(selector, "ItemSelector", &b)
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => items,
    };
    Ok((inputs, max_concurrency))
}

/// `ToleratedFailureCount` / `ToleratedFailurePercentage` of a JSONata Map.
pub(super) fn jsonata_tolerated_limits(
    state: &State,
    b: &query::Bindings,
) -> Result<ToleratedLimits, FieldError> {
    let count = state
        .raw
        .get("ToleratedFailureCount")
        .map(|v| query::eval_count(v, "ToleratedFailureCount", b))
        .transpose()?
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let percentage = state
        .raw
        .get("ToleratedFailurePercentage")
        .map(|v| query::eval_number(v, "ToleratedFailurePercentage", b))
        .transpose()?;
    Ok(ToleratedLimits { count, percentage })
}
