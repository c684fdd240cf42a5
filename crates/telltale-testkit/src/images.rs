//! The pinned images: one tag per service, matching the versions `STACK.md` pins for meridian.
//! Never `latest`: a test that passed yesterday must run the same server today.

use std::fmt;

/// An image name and its pinned tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePin {
    /// The repository, e.g. `grafana/loki`.
    pub name: &'static str,
    /// The tag, e.g. `3.5.7`.
    pub tag: &'static str,
}

impl fmt::Display for ImagePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Loki 3.5.x (STACK.md), single binary.
pub const LOKI: ImagePin = ImagePin {
    name: "grafana/loki",
    tag: "3.5.7",
};

/// Prometheus 3.x: 3.5 is the long-term-support line, and the one the Prometheus client's live
/// tests run against.
pub const PROMETHEUS: ImagePin = ImagePin {
    name: "prom/prometheus",
    tag: "v3.5.0",
};

/// Grafana 11.3.x (STACK.md).
pub const GRAFANA: ImagePin = ImagePin {
    name: "grafana/grafana",
    tag: "11.3.1",
};

/// Alloy 1.5.x (STACK.md); `telltale-faro` renders Alloy 1.5.1's Loki lines.
pub const ALLOY: ImagePin = ImagePin {
    name: "grafana/alloy",
    tag: "v1.5.1",
};

/// GlitchTip 5.1: newer than STACK.md's 4.x, as allowed there, and the release
/// `telltale-glitchtip` was measured against.
pub const GLITCHTIP: ImagePin = ImagePin {
    name: "glitchtip/glitchtip",
    tag: "v5.1.0",
};

/// GlitchTip's PostgreSQL (through testcontainers-modules, whose default is 11).
pub const POSTGRES: ImagePin = ImagePin {
    name: "postgres",
    tag: "17-alpine",
};

/// GlitchTip's Redis (through testcontainers-modules, whose default is 5.0).
pub const REDIS: ImagePin = ImagePin {
    name: "redis",
    tag: "7-alpine",
};

/// Every pin, for documentation and for pre-pulling in CI.
pub const ALL: [ImagePin; 7] = [LOKI, PROMETHEUS, GRAFANA, ALLOY, GLITCHTIP, POSTGRES, REDIS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_follow_stack_md() {
        assert!(LOKI.tag.starts_with("3.5."));
        assert!(PROMETHEUS.tag.starts_with("v3.") || PROMETHEUS.tag.starts_with("v2.55."));
        assert!(GRAFANA.tag.starts_with("11.3."));
        assert!(ALLOY.tag.starts_with("v1.5."));
        assert!(GLITCHTIP.tag.starts_with("v4.") || GLITCHTIP.tag.starts_with("v5."));
        for pin in ALL {
            assert!(!pin.tag.is_empty() && pin.tag != "latest", "{pin}");
            assert!(!pin.to_string().contains("latest"), "{pin}");
        }
        assert_eq!(LOKI.to_string(), "grafana/loki:3.5.7");
    }
}
