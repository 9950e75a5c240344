package dev.freshet.trainer.model;

/**
 * Runs {@code task} over {@code [0, n)} split into contiguous ranges, possibly on several threads, and
 * returns when every range is done. The arches only ever let one range own an output element and
 * compute it in a fixed order, so results are bit-identical whatever the split: the number of
 * threads never changes a number.
 */
public interface ParallelFor {

    /** One contiguous range of a parallel loop. */
    @FunctionalInterface
    interface RangeTask {
        void run(int from, int to);
    }

    void run(int n, RangeTask task);

    /** Number of ranges a loop is split into at most. */
    int parallelism();

    /** Everything on the calling thread. */
    ParallelFor SEQUENTIAL = new ParallelFor() {
        @Override
        public void run(int n, RangeTask task) {
            if (n > 0) task.run(0, n);
        }

        @Override
        public int parallelism() {
            return 1;
        }
    };
}
