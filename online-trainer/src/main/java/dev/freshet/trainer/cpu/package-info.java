/**
 * The CPU training backend ({@link dev.freshet.trainer.cpu.CpuBackend}): the default where no GPU is
 * found and the numerical reference of the CUDA backend. Its class comment states the contract.
 */
package dev.freshet.trainer.cpu;
