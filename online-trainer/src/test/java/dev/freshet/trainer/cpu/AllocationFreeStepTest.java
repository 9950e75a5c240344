package dev.freshet.trainer.cpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.SmallModels;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training step allocates nothing on the heap once warmed up, on the calling thread and on the
 * pool's workers, measured with HotSpot's per-thread allocation counters. The one object a step
 * returns, its {@code StepResult} record (24 bytes), is the budget: 64 bytes per step.
 */
class AllocationFreeStepTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void aWarmTrainingStepAllocatesOnlyItsResult(int threads) {
        com.sun.management.ThreadMXBean bean = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ModelConfig config = SmallModels.config(2, OptimizerKind.ROWWISE_ADAGRAD, OptimizerKind.ADAM, Precision.BF16).withBatchSize(64);
        try (CpuBackend backend = CpuBackend.create(config, threads)) {
            Examples[] batches = {SmallModels.batch(config, 64, 1), SmallModels.batch(config, 64, 2)};
            float[] p = new float[64];
            for (int i = 0; i < 200; i++) backend.train(batches[i % 2], p); // JIT warm-up: escape analysis applies to compiled code
            long[] ids = trainerThreadIds();
            long before = sum(bean.getThreadAllocatedBytes(ids));
            int steps = 50;
            for (int i = 0; i < steps; i++) backend.train(batches[i % 2], p);
            long perStep = (sum(bean.getThreadAllocatedBytes(ids)) - before) / steps;
            assertTrue(perStep <= 64, "a training step allocated " + perStep + " bytes");
        }
    }

    private static long[] trainerThreadIds() {
        List<Long> ids = new ArrayList<>();
        ids.add(Thread.currentThread().getId());
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("freshet-cpu-trainer")) ids.add(t.getId());
        }
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    private static long sum(long[] values) {
        long s = 0;
        for (long v : values) s += v;
        return s;
    }
}
