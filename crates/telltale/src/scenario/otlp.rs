//! The OTLP scenarios (being written).

use super::{Context, Outcome, Stop};

/// `otlp-logs-to-loki`.
pub(super) async fn logs(_ctx: &Context, _out: &mut Outcome) -> Result<(), Stop> {
    Err(Stop::error(
        "",
        "this scenario is not built yet",
        "use a newer telltale",
    ))
}

/// `otlp-metrics-to-prometheus`.
pub(super) async fn metrics(_ctx: &Context, _out: &mut Outcome) -> Result<(), Stop> {
    Err(Stop::error(
        "",
        "this scenario is not built yet",
        "use a newer telltale",
    ))
}

/// `otlp-traces-accepted`.
pub(super) async fn traces(_ctx: &Context, _out: &mut Outcome) -> Result<(), Stop> {
    Err(Stop::error(
        "",
        "this scenario is not built yet",
        "use a newer telltale",
    ))
}
