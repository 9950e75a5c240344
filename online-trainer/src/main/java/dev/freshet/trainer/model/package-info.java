/**
 * The DLRM model math (Naumov et al. 2019), decomposed as TorchRec's DLRM, in fp32 on the CPU. Shapes
 * use B = examples in the batch, T = embedding tables, D = embedding dim, F = T + 1 interacting vectors:
 *
 * <pre>
 * {@link dev.freshet.trainer.model.DenseArch}        dense [B, numDense]            -> [B, D]      bottom MLP, ReLU after every layer
 * {@link dev.freshet.trainer.model.SparseArch}       indices [B, T]                 -> [B, T, D]   sum-pooled embedding rows
 * {@link dev.freshet.trainer.model.InteractionArch}  [B, D], [B, T, D]              -> [B, D + F(F-1)/2]  dense ++ tril dots
 * {@link dev.freshet.trainer.model.OverArch}         [B, D + F(F-1)/2]              -> [B]         top MLP, no ReLU on the logit
 * loss: mean over B of BCE with logits, in float64
 * </pre>
 *
 * {@link dev.freshet.trainer.model.Dlrm} runs the four in that order and back. Each arch owns its
 * workspaces (sized once for a batch capacity), spreads its loops over a
 * {@link dev.freshet.trainer.model.ParallelFor} without changing any bit, and leaves applying the
 * gradients to the backend's optimizers. {@link dev.freshet.trainer.model.Initializer} is the seeded
 * initialisation every backend shares; {@link dev.freshet.trainer.model.Bf16} the bf16 rounding the
 * CPU uses to emulate a bf16 GPU GEMM.
 */
package dev.freshet.trainer.model;
