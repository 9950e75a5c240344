/**
 * A model in host memory: embedding tables off the Java heap
 * ({@link dev.freshet.trainer.host.HostEmbeddingTable}, with bulk copies for GPU transfers and
 * checkpoints), the whole trainable state with touched-row tracking
 * ({@link dev.freshet.trainer.host.HostModelState}), and the start-up size check
 * ({@link dev.freshet.trainer.host.HostMemory}).
 */
package dev.freshet.trainer.host;
