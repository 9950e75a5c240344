package dev.freshet.featurestream.internal;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.EitherTypeInfo;
import org.apache.flink.types.Either;

/** Flink type information of the job's internal records, in one place. */
public final class RecordTypes {
    /** Rows in flight use their own serializer ({@link FeatureRowSerializer}); rows inside state keep Flink's POJO serializer. */
    public static final TypeInformation<FeatureRow> ROW = new SerializerTypeInfo<>(FeatureRow.class, FeatureRowSerializer.INSTANCE);
    public static final TypeInformation<DeadLetter> DEAD_LETTER = TypeInformation.of(DeadLetter.class);
    public static final TypeInformation<Either<FeatureRow, DeadLetter>> DECODED = new EitherTypeInfo<>(ROW, DEAD_LETTER);
    public static final TypeInformation<PartialIdStats> PARTIAL_STATS = new SerializerTypeInfo<>(PartialIdStats.class, PartialIdStatsSerializer.INSTANCE);
    public static final TypeInformation<byte[]> BYTES = org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;

    private RecordTypes() {
    }
}
