//! Bootstraps `meridian`/`backend` with projects `be-platform` and `be-pwa`, prints their DSNs
//! (keys hidden), then runs a delivery check over each ingest path and prints the reports.
//!
//! `GLITCHTIP_URL=http://127.0.0.1:8200 GLITCHTIP_TOKEN_FILE=… cargo run -p telltale-glitchtip --example delivery_check [N]`

use std::time::Duration;

use telltale_glitchtip::{Client, DeliveryCheck, IngestPath, NewProject, StackSpec};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(builder) = Client::builder_from_env()? else {
        eprintln!("set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE");
        return Ok(());
    };
    let count = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let client = builder.build()?;
    let settings = client.settings().await?;
    println!("GlitchTip {} at {}", settings.version, client.base_url());
    let spec = StackSpec::new("meridian", "backend")
        .project(NewProject::new("be-platform").platform("rust"))
        .project(NewProject::new("be-pwa").platform("javascript"));
    let stack = client.ensure_stack(&spec).await?;
    println!("created: {:?}", stack.created);
    for p in &stack.projects {
        println!("{}: {}", p.project.slug, p.dsn);
    }
    let dsn = stack.dsn("be-platform").expect("bootstrapped").clone();
    for path in [IngestPath::Sdk, IngestPath::Envelope, IngestPath::Store] {
        let report = DeliveryCheck::new("meridian", dsn.clone(), path, count)
            .deadline(Duration::from_secs(30))
            .run_with(&client)
            .await?;
        println!("{report}");
        for issue in report.issue_ids() {
            client.delete_issue(issue).await?;
        }
    }
    Ok(())
}
