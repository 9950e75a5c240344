/**
 * The online training loop ({@link dev.freshet.trainer.online.OnlineTrainer}), its settings
 * ({@link dev.freshet.trainer.online.TrainerConfig}), the {@code freshet train} command and the
 * file-writing default {@link dev.freshet.trainer.ModelSink}. Batching, positions and record validation
 * live in {@code .internal}.
 */
package dev.freshet.trainer.online;
