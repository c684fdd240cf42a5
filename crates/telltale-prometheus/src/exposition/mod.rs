//! Exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0 (being written).
