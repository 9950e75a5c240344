/**
 * Model quality as every Freshet component reports it: exact AUC and log loss
 * ({@link dev.freshet.trainer.metrics.BinaryMetrics}) and their progressive-validation window
 * ({@link dev.freshet.trainer.metrics.SlidingWindowMetrics}).
 */
package dev.freshet.trainer.metrics;
