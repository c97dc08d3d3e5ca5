// Package remote is a client of the original DFaaS prototype's forecaster
// service, which predicts a node's CPU, RAM and power use from the request
// rates of three groups of functions with models trained offline (the
// Python/FastAPI "forecaster" with LightGBM models). It lets a lab that has
// trained such models keep using them: Predictor adapts the client to
// forecast.ResourcePredictor.
//
// The service takes its input as a JSON body on GET requests, which this
// client sends. It imports only the standard library.
package remote
