package dev.freshet.trainer.cpu;

import dev.freshet.trainer.DenseParameters;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.model.ParallelFor;

/**
 * Element-wise updates of the MLP weights, as PyTorch's optimizers compute them (fp32):
 * <ul>
 *   <li>SGD: {@code w -= lr g}</li>
 *   <li>Adagrad (Duchi, Hazan, Singer 2011): {@code acc += g^2; w -= lr g / (sqrt(acc) + eps)}</li>
 *   <li>Adam (Kingma, Ba 2015), step t from 1: {@code m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *       w -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)}, the two corrections computed in
 *       float64 once per step (b^t as {@code StrictMath.exp(t * StrictMath.log(b))}), then used as fp32</li>
 * </ul>
 * Element-wise, so any split over threads gives the same bits.
 */
final class DenseOptimizer {
    private final OptimizerSpec spec;
    private final DenseParameters params;
    private final ParallelFor pool;
    private float[] gradient;
    private float adamStepSize;
    private float adamBiasRoot;
    private final ParallelFor.RangeTask task = this::update;

    DenseOptimizer(OptimizerSpec spec, DenseParameters params, ParallelFor pool) {
        this.spec = spec;
        this.params = params;
        this.pool = pool;
    }

    void step(float[] grad) {
        this.gradient = grad;
        if (spec.denseSlots() == 2) {
            long t = params.step() + 1;
            params.setStep(t);
            adamStepSize = (float) (spec.learningRate() / (1 - power(spec.beta1(), t)));
            adamBiasRoot = (float) Math.sqrt(1 - power(spec.beta2(), t));
        }
        pool.run(params.size(), task);
    }

    /**
     * beta^t as exp(t ln beta) in StrictMath: a pure function of t (so a resumed run matches an
     * uninterrupted one bit for bit) that allocates nothing (with StrictMath.pow, AllocationFreeStepTest measured ~100 bytes per call on JDK 17).
     */
    static double power(float beta, long t) {
        return beta == 0f ? 0.0 : StrictMath.exp(t * StrictMath.log(beta));
    }

    private void update(int from, int to) {
        float[] w = params.values();
        float[] g = gradient;
        float lr = spec.learningRate();
        float eps = spec.eps();
        switch (spec.kind()) {
            case SGD -> {
                for (int i = from; i < to; i++) w[i] -= lr * g[i];
            }
            case ADAGRAD -> {
                float[] acc = params.slot1();
                for (int i = from; i < to; i++) {
                    acc[i] += g[i] * g[i];
                    w[i] -= lr * g[i] / ((float) Math.sqrt(acc[i]) + eps);
                }
            }
            case ADAM -> {
                float[] m = params.slot1();
                float[] v = params.slot2();
                float b1 = spec.beta1();
                float b2 = spec.beta2();
                for (int i = from; i < to; i++) {
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                    w[i] -= adamStepSize * m[i] / ((float) Math.sqrt(v[i]) / adamBiasRoot + eps);
                }
            }
            default -> throw new IllegalStateException("optimizer " + spec.kind() + " is not a dense optimizer");
        }
    }
}
