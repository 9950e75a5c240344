package dev.freshet.trainer;

/** Arithmetic of the MLPs and interaction. Weights and optimizer state are fp32 in both. */
public enum Precision { FP32, BF16 }
