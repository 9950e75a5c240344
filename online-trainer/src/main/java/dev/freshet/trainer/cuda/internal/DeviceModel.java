package dev.freshet.trainer.cuda.internal;

import dev.freshet.trainer.LayerShape;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.OptimizerKind;
import dev.freshet.trainer.OptimizerSpec;
import dev.freshet.trainer.Precision;
import dev.freshet.trainer.DenseParameters;
import jcuda.driver.CUdeviceptr;

import java.util.ArrayList;
import java.util.List;

import static jcuda.driver.JCudaDriver.cuMemsetD32;

/**
 * A DLRM model's parameters and one training step's workspace in GPU memory, and the step itself as a
 * fixed sequence of launches on one stream (so that it can be captured once as a CUDA graph).
 *
 * <pre>
 * denseIn [B, numDense] --bottom MLP--> x [B, D]                      (gemm + bias + ReLU per layer)
 * ids [B, T] --dedup--> inv [B, T], uniqueRows [U]                    (each distinct row once: RecD)
 * x, table rows --interaction--> R [B, D + F(F-1)/2]                  (gather fused into the dot kernel)
 *   R's rows are padded with zeros to a multiple of 4 floats (topLd), and so is a copy of denseIn when
 *   numDense is not a multiple of 4: each MLP's first layer then runs on a copy of its weight padded alike,
 *   so that its three GEMMs take the vectorised tile path (see PaddedFirstLayer)
 * R --top MLP--> logits [B] --BCE--> loss, probs [B], dlogits [B]
 * backward: top MLP, interaction (dx [B, D] and gradAcc [U, D]), bottom MLP
 * updates: emb rows once per distinct row; all dense parameters in one flat launch
 * </pre>
 *
 * The embedding rows live in {@code physicalRows x D}: either every row of every table (table t's rows
 * start at {@code tableOffset[t]}) or the slots of the GPU embedding cache (offsets all zero and the
 * ids already translated to slots by the cache planner).
 */
public final class DeviceModel extends CudaResource {
    private final ModelConfig config;
    private final DlrmKernels kernels;
    private final int tables, dim, maxBatch, topIn, topLd, numDense;
    private final List<LayerShape> bottom, top;
    private final boolean bf16;
    private final long physicalRows;
    private final int hashShift, hashCapacity;
    private final List<DeviceBuffer> owned = new ArrayList<>();

    private final DeviceBuffer deviceDense, deviceDenseGrad, deviceSlot1, deviceSlot2;
    private final DeviceBuffer deviceTable, deviceAccum, deviceTableOffset;
    private final DeviceBuffer deviceDenseIn, deviceIds, deviceLabels;
    private final DeviceBuffer[] deviceBottomOut, deviceTopOut;
    private final DeviceBuffer deviceR, deviceGradA, deviceGradB, deviceDx;
    /** Each MLP's first layer on padded input rows; null when its input width is a multiple of 4 already. */
    private final PaddedFirstLayer paddedBottom, paddedTop;
    /** denseIn with rows padded to paddedBottom's width; null without paddedBottom. */
    private final DeviceBuffer deviceDenseInPadded;
    private final DeviceBuffer deviceHashKeys, deviceHashVals, deviceUniqueRows, deviceInv, deviceGradAcc;
    /** [0] distinct rows of the batch, [1] step counter, [2] non-finite flag, [3] unused. */
    private final DeviceBuffer deviceScalars;
    private final DeviceBuffer deviceLoss, deviceProbs;

    public DeviceModel(ModelConfig config, DlrmKernels kernels, long physicalRows, int maxBatch) {
        super("GPU model");
        this.config = config;
        this.kernels = kernels;
        this.tables = config.numTables();
        this.dim = config.embeddingDim();
        this.maxBatch = maxBatch;
        this.topIn = config.topInputWidth();
        // the GEMM tiles load 16-byte vectors only from rows whose length is a multiple of 4 floats; the
        // 479-wide input of kaggle's top MLP ran its three GEMMs element-wise, ~0.9 ms of a 27 ms fp32 step
        this.topLd = (topIn + 3) / 4 * 4;
        this.numDense = config.numDense();
        this.bf16 = config.precision() == Precision.BF16;
        this.physicalRows = physicalRows;
        DenseParameters shapes = new DenseParameters(config);
        this.bottom = shapes.bottom();
        this.top = shapes.top();
        int smem = DlrmKernels.interactSharedBytes(tables, dim, true);
        if (smem > 48 * 1024) {
            throw new IllegalArgumentException("the interaction of " + (tables + 1) + " vectors of dim " + dim + " needs " + smem
                    + " bytes of shared memory per example; the CUDA backend supports at most 49152. Fix: a smaller model.embedding-dim");
        }
        long lookups = (long) maxBatch * tables;
        if (lookups * dim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch " + maxBatch + " x " + tables + " tables x dim " + dim
                    + " exceeds 2^31 gradient elements. Fix: a smaller model.batch-size");
        }
        int shift = 32;
        while ((1L << (32 - shift)) < 2 * lookups) shift--;
        this.hashShift = shift;
        this.hashCapacity = 1 << (32 - shift);

        int denseCount = shapes.size();
        OptimizerSpec denseOpt = config.denseOptimizer();
        deviceDense = own(DeviceBuffer.floats("dense weights", denseCount));
        deviceDenseGrad = own(DeviceBuffer.floats("dense gradients", denseCount));
        deviceSlot1 = denseOpt.denseSlots() >= 1 ? own(DeviceBuffer.floats("dense optimizer state 1", denseCount)) : null;
        deviceSlot2 = denseOpt.denseSlots() >= 2 ? own(DeviceBuffer.floats("dense optimizer state 2", denseCount)) : null;
        deviceTable = own(DeviceBuffer.floats("embedding rows", physicalRows * dim));
        deviceAccum = config.embeddingOptimizer().kind() == OptimizerKind.ROWWISE_ADAGRAD
                ? own(DeviceBuffer.floats("embedding row accumulators", physicalRows)) : null;
        deviceTableOffset = own(DeviceBuffer.ints("table offsets", tables));

        deviceDenseIn = own(DeviceBuffer.floats("dense input", (long) maxBatch * numDense));
        deviceIds = own(DeviceBuffer.ints("sparse ids", lookups));
        deviceLabels = own(new DeviceBuffer("labels", Math.max(4, maxBatch)));
        deviceBottomOut = new DeviceBuffer[bottom.size()];
        int widest = Math.max(topLd, dim);
        for (int i = 0; i < bottom.size(); i++) {
            deviceBottomOut[i] = own(DeviceBuffer.floats("bottom layer " + i + " output", (long) maxBatch * bottom.get(i).out()));
            widest = Math.max(widest, bottom.get(i).in());
            widest = Math.max(widest, bottom.get(i).out());
        }
        deviceTopOut = new DeviceBuffer[top.size()];
        for (int i = 0; i < top.size(); i++) {
            deviceTopOut[i] = own(DeviceBuffer.floats("top layer " + i + " output", (long) maxBatch * top.get(i).out()));
            widest = Math.max(widest, top.get(i).out());
        }
        deviceR = own(DeviceBuffer.floats("interaction output", (long) maxBatch * topLd));
        // padding columns stay zero: the interaction writes only the first topIn columns of each row
        cuMemsetD32(deviceR.ptr(), 0, (long) maxBatch * topLd);
        paddedTop = topLd != topIn ? new PaddedFirstLayer("top", top.get(0)) : null;
        paddedBottom = numDense % 4 != 0 ? new PaddedFirstLayer("bottom", bottom.get(0)) : null;
        if (paddedBottom != null) {
            deviceDenseInPadded = own(DeviceBuffer.floats("dense input, padded rows", (long) maxBatch * paddedBottom.ld));
            cuMemsetD32(deviceDenseInPadded.ptr(), 0, (long) maxBatch * paddedBottom.ld);
        } else {
            deviceDenseInPadded = null;
        }
        deviceGradA = own(DeviceBuffer.floats("activation gradients A", (long) maxBatch * widest));
        deviceGradB = own(DeviceBuffer.floats("activation gradients B", (long) maxBatch * widest));
        deviceDx = own(DeviceBuffer.floats("bottom output gradient", (long) maxBatch * dim));
        deviceHashKeys = own(DeviceBuffer.ints("dedup hash keys", hashCapacity));
        deviceHashVals = own(DeviceBuffer.ints("dedup hash values", hashCapacity));
        deviceUniqueRows = own(DeviceBuffer.ints("distinct rows", lookups));
        deviceInv = own(DeviceBuffer.ints("lookup to distinct row", lookups));
        deviceGradAcc = own(DeviceBuffer.floats("distinct row gradients", lookups * dim));
        cuMemsetD32(deviceGradAcc.ptr(), 0, lookups * dim); // from then on, emb_update clears the rows it consumed
        deviceScalars = own(DeviceBuffer.ints("step scalars", 4));
        deviceLoss = own(new DeviceBuffer("loss sum", 8));
        deviceProbs = own(DeviceBuffer.floats("probabilities", maxBatch));
    }

    private DeviceBuffer own(DeviceBuffer b) {
        owned.add(b);
        return b;
    }

    /**
     * Queues the forward pass (and, when training, the loss and its gradient): dedup, bottom MLP,
     * interaction, top MLP, sigmoid. Returns the bottom MLP output x. Scoring passes {@code training}
     * false: no labels are read and the step counter stays.
     */
    public CUdeviceptr queueForward(int batch, boolean training, CudaStream s) {
        return queueForward(batch, training, s, StageMarks.NONE);
    }

    /** Stage boundaries of a step, for a timing breakdown (events between stages; never inside a graph). */
    public interface StageMarks {
        StageMarks NONE = stage -> {
        };

        /** Called after the work of {@code stage} was queued. */
        void mark(String stage);

        /** Whether {@link #mark} is called after each MLP layer too (with the layer's name), for a finer breakdown. */
        default boolean perLayer() {
            return false;
        }
    }

    private CUdeviceptr queueForward(int batch, boolean training, CudaStream s, StageMarks marks) {
        checkOpen();
        if (batch < 1 || batch > maxBatch) {
            throw new IllegalArgumentException("batch of " + batch + " examples outside 1.." + maxBatch + " (the GPU workspace size)");
        }
        int lookups = batch * tables;
        CUdeviceptr uniqueCount = deviceScalars.at(0);
        CUdeviceptr stepCounter = deviceScalars.at(4);
        deviceHashKeys.fill32(-1, hashCapacity, s);
        deviceHashVals.fill32(-1, hashCapacity, s);
        deviceScalars.fill32(0, 1, s);
        deviceLoss.fill32(0, 2, s);
        if (training) deviceDenseGrad.fill32(0, deviceDenseGrad.bytes() / 4, s);
        kernels.dedupRows(lookups, tables, deviceIds.ptr(), deviceTableOffset.ptr(), deviceHashKeys.ptr(), deviceHashVals.ptr(),
                hashShift, deviceUniqueRows.ptr(), uniqueCount, deviceInv.ptr(), s);
        marks.mark("memsets + dedup");

        CUdeviceptr in = deviceDenseIn.ptr();
        if (paddedBottom != null) {
            kernels.copyMatrix(batch, numDense, deviceDenseIn.ptr(), numDense, deviceDenseInPadded.ptr(), paddedBottom.ld, s);
            in = deviceDenseInPadded.ptr();
        }
        for (int l = 0; l < bottom.size(); l++) {
            LayerShape L = bottom.get(l);
            if (l == 0 && paddedBottom != null) paddedBottom.forward(batch, in, deviceBottomOut[l].ptr(), s);
            else forwardLayer(L, batch, in, deviceBottomOut[l].ptr(), s);
            in = deviceBottomOut[l].ptr();
            if (marks.perLayer()) marks.mark("bottom " + l + " forward");
        }
        CUdeviceptr x = in;
        marks.mark("bottom MLP forward");
        kernels.interactForward(batch, tables, dim, x, deviceTable.ptr(), deviceInv.ptr(), deviceUniqueRows.ptr(),
                deviceR.ptr(), topLd, s);
        marks.mark("gather + interaction forward");
        in = deviceR.ptr();
        for (int l = 0; l < top.size(); l++) {
            LayerShape L = top.get(l);
            if (l == 0 && paddedTop != null) paddedTop.forward(batch, in, deviceTopOut[l].ptr(), s);
            else forwardLayer(L, batch, in, deviceTopOut[l].ptr(), s);
            in = deviceTopOut[l].ptr();
            if (marks.perLayer()) marks.mark("top " + l + " forward");
        }
        kernels.bceLoss(batch, in, training ? deviceLabels.ptr() : null, deviceProbs.ptr(), deviceGradA.ptr(),
                deviceLoss.ptr(), training ? stepCounter : null, s);
        marks.mark("top MLP forward + loss");
        return x;
    }

    /**
     * Queues one training step on {@code stream}: forward, loss, backward, updates. Reads the inputs
     * already in {@link #deviceDenseIn()}, {@link #deviceIds()}, {@link #deviceLabels()}; leaves the
     * probabilities in {@link #deviceProbs()} and the summed loss in {@link #deviceLoss()}.
     */
    public void queueStep(int batch, CudaStream s) {
        queueStep(batch, s, StageMarks.NONE);
    }

    public void queueStep(int batch, CudaStream s, StageMarks marks) {
        CUdeviceptr x = queueForward(batch, true, s, marks);
        int lookups = batch * tables;
        CUdeviceptr uniqueCount = deviceScalars.at(0);
        CUdeviceptr stepCounter = deviceScalars.at(4);
        CUdeviceptr nonFinite = deviceScalars.at(8);

        // top MLP backward; dY ping-pongs between the two gradient buffers
        DeviceBuffer dY = deviceGradA, dX = deviceGradB;
        for (int l = top.size() - 1; l >= 0; l--) {
            LayerShape L = top.get(l);
            CUdeviceptr input = l == 0 ? deviceR.ptr() : deviceTopOut[l - 1].ptr();
            boolean inputIsRelu = l > 0 && top.get(l - 1).relu();
            if (l == 0 && paddedTop != null) paddedTop.backward(batch, dY.ptr(), input, dX.ptr(), s);
            else backwardLayer(L, batch, dY.ptr(), input, true, inputIsRelu, dX.ptr(), s);
            DeviceBuffer t = dY;
            dY = dX;
            dX = t;
            if (marks.perLayer()) marks.mark("top " + l + " backward");
        }
        marks.mark("top MLP backward");
        // dY now holds dR [B, topLd]
        kernels.interactBackward(batch, tables, dim, x, deviceTable.ptr(), deviceInv.ptr(), deviceUniqueRows.ptr(), dY.ptr(),
                topLd, bottom.get(bottom.size() - 1).relu(), deviceDx.ptr(), deviceGradAcc.ptr(), s);
        marks.mark("interaction backward + row gradients");
        dY = deviceDx;
        for (int l = bottom.size() - 1; l >= 0; l--) {
            LayerShape L = bottom.get(l);
            CUdeviceptr input = l == 0 ? deviceDenseIn.ptr() : deviceBottomOut[l - 1].ptr();
            boolean inputIsRelu = l > 0 && bottom.get(l - 1).relu();
            DeviceBuffer target = dY == deviceGradA ? deviceGradB : deviceGradA;
            if (l == 0 && paddedBottom != null) paddedBottom.backward(batch, dY.ptr(), deviceDenseInPadded.ptr(), null, s);
            else backwardLayer(L, batch, dY.ptr(), input, l > 0, inputIsRelu, target.ptr(), s);
            dY = target;
            if (marks.perLayer()) marks.mark("bottom " + l + " backward");
        }

        marks.mark("bottom MLP backward");
        OptimizerSpec e = config.embeddingOptimizer();
        kernels.embUpdate(lookups, uniqueCount, deviceUniqueRows.ptr(), deviceGradAcc.ptr(), deviceTable.ptr(),
                deviceAccum == null ? null : deviceAccum.ptr(), dim, e.learningRate(), e.eps(),
                e.kind() == OptimizerKind.ROWWISE_ADAGRAD, nonFinite, s);
        OptimizerSpec d = config.denseOptimizer();
        int kind = switch (d.kind()) {
            case SGD -> 0;
            case ADAGRAD -> 1;
            case ADAM -> 2;
            case ROWWISE_ADAGRAD -> throw new IllegalStateException("rowwise_adagrad is for embeddings only");
        };
        kernels.denseUpdate((int) (deviceDense.bytes() / 4), kind, deviceDense.ptr(), deviceDenseGrad.ptr(),
                deviceSlot1 == null ? null : deviceSlot1.ptr(), deviceSlot2 == null ? null : deviceSlot2.ptr(),
                d.learningRate(), d.eps(), d.beta1(), d.beta2(), stepCounter, nonFinite, s);
        marks.mark("embedding + dense updates");
    }

    /** dW += dY^T X, db += colsum(dY) (in one kernel where it can), and (if wanted) dX = dY W, masked where the layer input was a clipped ReLU. */
    private void backwardLayer(LayerShape L, int batch, CUdeviceptr dY, CUdeviceptr input, boolean wantInputGrad,
                               boolean inputIsRelu, CUdeviceptr dX, CudaStream s) {
        backwardLayer(L, L.in(), weight(L), deviceDenseGrad.at((long) L.weightOffset() * 4), batch, dY, input, wantInputGrad,
                inputIsRelu, dX, s);
    }

    /** As above, with the weight and its gradient in rows of {@code width} floats (the layer input's row length). */
    private void backwardLayer(LayerShape L, int width, CUdeviceptr w, CUdeviceptr dW, int batch, CUdeviceptr dY,
                               CUdeviceptr input, boolean wantInputGrad, boolean inputIsRelu, CUdeviceptr dX, CudaStream s) {
        kernels.weightGradient(bf16, L.out(), width, batch, dY, input, width, dW, width, deviceDenseGrad.at((long) L.biasOffset() * 4), s);
        if (wantInputGrad) {
            kernels.gemm(bf16, DlrmKernels.GemmKind.NN, batch, width, L.out(), dY, L.out(), w, width, dX, width,
                    null, false, inputIsRelu ? input : null, width, false, s);
        }
    }

    private CUdeviceptr weight(LayerShape L) {
        return deviceDense.at((long) L.weightOffset() * 4);
    }

    private void forwardLayer(LayerShape L, int batch, CUdeviceptr in, CUdeviceptr out, CudaStream s) {
        kernels.gemm(bf16, DlrmKernels.GemmKind.NT, batch, L.out(), L.in(), in, L.in(), weight(L), L.in(), out, L.out(), bias(L),
                L.relu(), null, 0, false, s);
    }

    /**
     * An MLP's first layer on input rows padded with zeros to a multiple of 4 floats ({@code ld}): its weight
     * and weight gradient live in copies with rows of {@code ld} floats whose padding columns are zero, so the
     * padding adds nothing to the products, and the three GEMMs load 16-byte vectors. The step copies the
     * weight in before the forward and the gradient out after the backward (0.5 MB for kaggle's 1024 x 479).
     */
    private final class PaddedFirstLayer {
        final LayerShape layer;
        final int ld;
        final DeviceBuffer weight, grad;

        PaddedFirstLayer(String mlp, LayerShape layer) {
            this.layer = layer;
            this.ld = (layer.in() + 3) / 4 * 4;
            long n = (long) layer.out() * ld;
            this.weight = own(DeviceBuffer.floats(mlp + " layer 0 weight, padded rows", n));
            this.grad = own(DeviceBuffer.floats(mlp + " layer 0 weight gradient, padded rows", n));
            cuMemsetD32(weight.ptr(), 0, n);
        }

        void forward(int batch, CUdeviceptr in, CUdeviceptr out, CudaStream s) {
            kernels.copyMatrix(layer.out(), layer.in(), weight(layer), layer.in(), weight.ptr(), ld, s);
            kernels.gemm(bf16, DlrmKernels.GemmKind.NT, batch, layer.out(), ld, in, ld, weight.ptr(), ld, out, layer.out(),
                    bias(layer), layer.relu(), null, 0, false, s);
        }

        /** The weight gradient into the padded copy (its padding columns are dY^T 0 = 0), then into place; dX if wanted. */
        void backward(int batch, CUdeviceptr dY, CUdeviceptr input, CUdeviceptr dX, CudaStream s) {
            grad.fill32(0, grad.bytes() / 4, s);
            backwardLayer(layer, ld, weight.ptr(), grad.ptr(), batch, dY, input, dX != null, false, dX, s);
            kernels.copyMatrix(layer.out(), layer.in(), grad.ptr(), ld, deviceDenseGrad.at((long) layer.weightOffset() * 4),
                    layer.in(), s);
        }
    }

    private CUdeviceptr bias(LayerShape L) {
        return deviceDense.at((long) L.biasOffset() * 4);
    }

    public ModelConfig config() {
        return config;
    }

    public int maxBatch() {
        return maxBatch;
    }

    public long physicalRows() {
        return physicalRows;
    }

    public DeviceBuffer deviceDense() {
        return deviceDense;
    }

    /** Dense optimizer state 1 (Adagrad accumulator or Adam first moment), or null for SGD. */
    public DeviceBuffer deviceSlot1() {
        return deviceSlot1;
    }

    public DeviceBuffer deviceSlot2() {
        return deviceSlot2;
    }

    public DeviceBuffer deviceTable() {
        return deviceTable;
    }

    /** Row-wise Adagrad accumulators, or null for SGD. */
    public DeviceBuffer deviceAccum() {
        return deviceAccum;
    }

    public DeviceBuffer deviceTableOffset() {
        return deviceTableOffset;
    }

    public DeviceBuffer deviceDenseIn() {
        return deviceDenseIn;
    }

    public DeviceBuffer deviceIds() {
        return deviceIds;
    }

    public DeviceBuffer deviceLabels() {
        return deviceLabels;
    }

    public DeviceBuffer deviceProbs() {
        return deviceProbs;
    }

    public DeviceBuffer deviceLoss() {
        return deviceLoss;
    }

    /** [distinct rows of the last batch, steps so far, non-finite flag, 0]. */
    public DeviceBuffer deviceScalars() {
        return deviceScalars;
    }

    /** GPU bytes this model allocated. */
    public long allocatedBytes() {
        return owned.stream().mapToLong(DeviceBuffer::bytes).sum();
    }

    @Override
    void release() {
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
    }
}
