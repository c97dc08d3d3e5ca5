// Package forecast predicts what a node will see next, so that a strategy
// can act on the next period's load rather than the last one's, and learns
// how much of the machine that load uses. It imports only the standard
// library; everything in it is pure (no clock, no I/O), deterministic and
// bounded in memory.
//
// # Load forecasters
//
// A Forecaster predicts the next value of a series, such as a function's
// offered rate one control period ahead. The built-ins, by the names
// ByName knows:
//
//   - "last": the last value (Last);
//   - "ewma": an exponentially weighted moving average (EWMA);
//   - "holt": level and trend (Holt), which also follows a sudden level
//     shift, such as a burst, after one observation;
//   - "holtwinters": level, trend and a seasonal profile whose season it
//     finds by autocorrelation (HoltWinters);
//   - "auto": all of the above at once, weighted online by their recent
//     errors (Auto), the recommended default for the agent.
//
// Trace, ReadTrace, WAPE and Trace.Evaluate score forecasters one step
// ahead on a recorded rate series; "dfaas forecast" is their command line.
//
// # Resource model
//
// ResourceModel learns, online, how a node's CPU, memory and power depend
// on the rates of the functions it processes (recursive least squares with
// forgetting, one linear model per metric with non-negative per-function
// costs), and adds a safety margin from the recent quantile of its errors.
// It answers "what would the usage be with these rates?" (Predict) and "how
// many more req/s of f fit under these limits?" (Headroom). It fits the
// machine it runs on, where the original prototype used models trained
// offline in one lab; forecast/remote reaches those models for labs that
// have them. Both implement ResourcePredictor.
package forecast
