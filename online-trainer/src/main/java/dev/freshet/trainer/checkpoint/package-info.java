/**
 * Model files and checkpoints: {@link dev.freshet.trainer.checkpoint.ModelFiles} is the one binary
 * format of a model (directory of SHA-256-checked, format-versioned files) and of a delta (one stream);
 * {@link dev.freshet.trainer.checkpoint.CheckpointStore} writes checkpoints atomically and finds the
 * newest complete one.
 *
 * <pre>
 * trainer.checkpoint-dir/
 *   ckpt-00000000000000001200/      a complete checkpoint, named by training step
 *     dense.bin table-000.bin ...   weights and optimizer state
 *     manifest.bin                  config, metadata (positions, counters, metrics), file sizes and SHA-256
 *     COMPLETE                      written last, before the directory is renamed into place
 *   .tmp-ckpt-...                   a write in progress, or what a crash left (removed on start)
 *   corrupt-ckpt-...                a checkpoint that failed its SHA-256 on load (kept for inspection)
 * </pre>
 */
package dev.freshet.trainer.checkpoint;
