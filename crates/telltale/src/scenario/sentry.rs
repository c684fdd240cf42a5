//! The `sentry` scenario (being written).

use super::{Context, Outcome, Stop};

/// Runs the scenario.
pub(super) async fn run(_ctx: &Context, _out: &mut Outcome) -> Result<(), Stop> {
    Err(Stop::error(
        "",
        "this scenario is not built yet",
        "use a newer telltale",
    ))
}
