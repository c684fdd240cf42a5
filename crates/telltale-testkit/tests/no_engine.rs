//! `start()` with an engine that is not there returns the typed error, through the public API.
//! Its own test binary, because it points `DOCKER_HOST` at a missing socket for the process.

use telltale_testkit::{Error, Stack};

#[tokio::test]
async fn a_missing_engine_is_a_typed_error_before_any_container_is_asked_for() {
    let socket = std::env::temp_dir().join(format!(
        "telltale-testkit-{}-absent.sock",
        std::process::id()
    ));
    let endpoint = format!("unix://{}", socket.display());
    // The only environment change in this binary, made before anything reads it.
    std::env::set_var("DOCKER_HOST", &endpoint);
    let err = Stack::builder()
        .loki()
        .glitchtip()
        .start()
        .await
        .unwrap_err();
    assert!(err.is_no_engine(), "{err}");
    match &err {
        Error::NoEngine { tried, .. } => assert_eq!(tried, std::slice::from_ref(&endpoint)),
        other => panic!("expected NoEngine, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&endpoint) && text.contains("Podman"),
        "{text}"
    );
}
