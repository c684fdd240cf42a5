//! The in-memory series store: label sets to time-ordered samples, with stale markers.

use std::collections::{BTreeMap, HashMap};

/// A label set, `__name__` included, sorted by name as Prometheus sorts it.
pub type Labels = BTreeMap<String, String>;

/// One sample; `stale` marks Prometheus's staleness marker (no value).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub t: i64,
    pub v: f64,
    pub stale: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// Series by label set. Times are milliseconds since the test's time 0.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub(crate) series: Vec<Series>,
    index: HashMap<Labels, usize>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample; samples may arrive out of order (recording rules write after the input).
    pub fn push(&mut self, labels: &Labels, t: i64, v: f64) {
        self.push_point(labels, Point { t, v, stale: false });
    }

    /// Adds a staleness marker.
    pub fn push_stale(&mut self, labels: &Labels, t: i64) {
        self.push_point(
            labels,
            Point {
                t,
                v: f64::NAN,
                stale: true,
            },
        );
    }

    fn push_point(&mut self, labels: &Labels, p: Point) {
        let i = match self.index.get(labels) {
            Some(i) => *i,
            None => {
                self.series.push(Series {
                    labels: labels.clone(),
                    points: Vec::new(),
                });
                self.index.insert(labels.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        let points = &mut self.series[i].points;
        match points.binary_search_by_key(&p.t, |q| q.t) {
            // A later write at the same time replaces the earlier one, as an append would.
            Ok(j) => points[j] = p,
            Err(j) => points.insert(j, p),
        }
    }
}
