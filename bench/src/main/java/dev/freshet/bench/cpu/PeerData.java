package dev.freshet.bench.cpu;

import dev.freshet.features.Examples;
import dev.freshet.trainer.ModelConfig;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The synthetic batches of the PyTorch peer ({@code ../shared/bench/torch_dlrm_peer.py}), shared by the CPU
 * and GPU trainer benchmarks so that both train on the same data as the peer: per table
 * {@code rank = floor(exp(u ln(rows + 1))) - 1}, {@code row = rank * 2654435761 mod rows} (u ~ U[0,1)),
 * dense {@code log1p(100 u)}, label Bernoulli(0.25).
 */
public final class PeerData {
    private PeerData() {
    }

    /** {@code count} full batches for {@code config}; batch k is drawn from its own seeded stream, so they are made in parallel. */
    public static Examples[] batches(ModelConfig config, int batch, int count, long seed) {
        long[] rows = config.tables().stream().mapToLong(t -> t.rows()).toArray();
        int tables = rows.length;
        int dense = config.numDense();
        Examples[] out = new Examples[count];
        IntStream.range(0, count).parallel().forEach(k -> {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + k);
            Examples e = new Examples(batch, dense, tables);
            for (int b = 0; b < batch; b++) {
                for (int i = 0; i < dense; i++) e.dense[b * dense + i] = (float) Math.log1p(r.nextDouble() * 100);
                for (int t = 0; t < tables; t++) e.sparse[b * tables + t] = zipfRow(r.nextDouble(), rows[t]);
                e.labels[b] = (byte) (r.nextDouble() < 0.25 ? 1 : 0);
            }
            e.count = batch;
            out[k] = e;
        });
        return out;
    }

    /** rank = floor(exp(u ln(rows + 1))) - 1, row = rank * 2654435761 mod rows (as the peer's zipf_indices). */
    public static int zipfRow(double u, long rows) {
        long rank = (long) Math.floor(Math.exp(u * Math.log(rows + 1.0))) - 1;
        // exp may round up to rows + 1 for u just below 1
        rank = Math.max(0, Math.min(rows - 1, rank));
        return (int) ((rank * 2654435761L) % rows);
    }
}
