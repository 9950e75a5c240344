package dev.freshet.trainer.retrain;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelState;
import dev.freshet.trainer.StepResult;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.metrics.BinaryMetrics;

import java.util.Arrays;

/**
 * The real backend, plus a record of what it was asked: every training step's progressive predictions
 * and labels, and which model "generation" trained them ({@link #load} starts a new one: a promotion).
 * Only the training thread calls train and load; tests read after the trainer has caught up.
 */
final class RecordingBackend implements TrainerBackend {
    private final TrainerBackend real;
    private volatile int generation;
    private float[] scores = new float[1 << 16];
    private byte[] labels = new byte[1 << 16];
    private int[] generations = new int[1 << 16];
    private int n;

    RecordingBackend(TrainerBackend real) {
        this.real = real;
    }

    /** Loads since creation: 0 until the first promotion. */
    int generation() {
        return generation;
    }

    synchronized int examples(int gen) {
        int c = 0;
        for (int i = 0; i < n; i++) if (generations[i] == gen) c++;
        return c;
    }

    /** AUC and log loss of the progressive predictions of generation {@code gen}: its first {@code skip} examples left out, then at most {@code take}. */
    synchronized Evaluation progressive(int gen, int skip, int take, boolean fromEnd) {
        float[] s = new float[n];
        byte[] y = new byte[n];
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (generations[i] == gen) {
                s[m] = scores[i];
                y[m++] = labels[i];
            }
        }
        int from = fromEnd ? Math.max(0, m - take) : Math.min(m, skip);
        int to = fromEnd ? m : Math.min(m, skip + take);
        float[] ss = Arrays.copyOfRange(s, from, to);
        byte[] yy = Arrays.copyOfRange(y, from, to);
        return new Evaluation(BinaryMetrics.auc(ss, yy, ss.length), BinaryMetrics.logLoss(ss, yy, ss.length), ss.length);
    }

    @Override
    public String description() {
        return "recording " + real.description();
    }

    @Override
    public ModelConfig config() {
        return real.config();
    }

    @Override
    public void predict(Examples batch, float[] out) {
        real.predict(batch, out);
    }

    @Override
    public synchronized StepResult train(Examples batch, float[] outProbabilities) {
        StepResult r = real.train(batch, outProbabilities);
        if (n + batch.count > scores.length) {
            int c = Math.max(scores.length * 2, n + batch.count);
            scores = Arrays.copyOf(scores, c);
            labels = Arrays.copyOf(labels, c);
            generations = Arrays.copyOf(generations, c);
        }
        System.arraycopy(outProbabilities, 0, scores, n, batch.count);
        System.arraycopy(batch.labels, 0, labels, n, batch.count);
        Arrays.fill(generations, n, n + batch.count, generation);
        n += batch.count;
        return r;
    }

    @Override
    public ModelState state() {
        return real.state();
    }

    @Override
    public synchronized void load(ModelState source) {
        real.load(source);
        generation++;
    }

    @Override
    public void close() {
        real.close();
    }
}
