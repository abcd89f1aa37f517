// Java side of tests/integration/aeron/test_aeron_volume.py, run with the JDK's source launcher:
//   java -cp aeron-all.jar AeronVolume.java publish|subscribe <channel> <streamId> <messages>
// (aeron.dir as a system property). Both sides derive every message from its sequence number alone, with the
// same arithmetic as the Python test (keep the two in step):
//   message = [long sequence][int body length][int CRC-32 of body] + body
//   body length: h = ((sequence + 1) * 2654435761) mod 2^32; a quarter fragmented (above one frame's payload)
//   body = POOL[(sequence * 7) mod (POOL_BYTES / 2) ..][..length], POOL from a 64-bit LCG
// publish: offers every message (retrying back-pressure), then stays until the subscriber has gone.
// subscribe: checks every message (sequence, length, CRC, exact body) and prints OK or the first FAIL.
import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32;

public final class AeronVolume
{
    static final int PREFIX_BYTES = 16;
    static final int POOL_BYTES = 16 * 1024;
    static final int SMALL_BODY_MAX = 1000;
    static final int FRAGMENTED_BODY_MIN = 1361;
    static final int FRAGMENTED_BODY_MAX = 8192 - PREFIX_BYTES;
    static final long DEADLINE_NS = 180_000_000_000L;
    static final byte[] POOL = pool();

    static byte[] pool()
    {
        final byte[] pool = new byte[POOL_BYTES];
        long x = 20261124L;
        for (int i = 0; i < POOL_BYTES; i++)
        {
            x = x * 6364136223846793005L + 1442695040888963407L;
            pool[i] = (byte)(x >>> 56);
        }
        return pool;
    }

    static int bodyLength(final long sequence)
    {
        final long h = ((sequence + 1) * 2654435761L) & 0xFFFF_FFFFL;
        if (h % 4 == 0)
        {
            return FRAGMENTED_BODY_MIN + (int)((h >>> 2) % (FRAGMENTED_BODY_MAX - FRAGMENTED_BODY_MIN + 1));
        }
        return (int)((h >>> 2) % (SMALL_BODY_MAX + 1));
    }

    static int bodyStart(final long sequence)
    {
        return (int)((sequence * 7) % (POOL_BYTES / 2));
    }

    static int crc(final int start, final int length)
    {
        final CRC32 crc = new CRC32();
        crc.update(POOL, start, length);
        return (int)crc.getValue();
    }

    public static void main(final String[] args)
    {
        final String mode = args[0];
        final String channel = args[1];
        final int streamId = Integer.parseInt(args[2]);
        final long messages = Long.parseLong(args[3]);
        try (Aeron aeron = Aeron.connect(new Aeron.Context()))
        {
            final int status = "publish".equals(mode) ?
                publish(aeron, channel, streamId, messages) : subscribe(aeron, channel, streamId, messages);
            System.out.flush();
            System.exit(status);
        }
    }

    static int publish(final Aeron aeron, final String channel, final int streamId, final long messages)
    {
        final BackoffIdleStrategy idle = new BackoffIdleStrategy();
        final long deadlineNs = System.nanoTime() + DEADLINE_NS;
        final UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(PREFIX_BYTES + FRAGMENTED_BODY_MAX));
        long bytes = 0;
        try (Publication publication = aeron.addPublication(channel, streamId))
        {
            while (!publication.isConnected())
            {
                if (System.nanoTime() > deadlineNs)
                {
                    System.out.println("FAIL no subscriber");
                    return 2;
                }
                idle.idle();
            }
            for (long sequence = 0; sequence < messages; sequence++)
            {
                final int length = bodyLength(sequence);
                final int start = bodyStart(sequence);
                buffer.putLong(0, sequence, ByteOrder.LITTLE_ENDIAN);
                buffer.putInt(8, length, ByteOrder.LITTLE_ENDIAN);
                buffer.putInt(12, crc(start, length), ByteOrder.LITTLE_ENDIAN);
                buffer.putBytes(PREFIX_BYTES, POOL, start, length);
                idle.reset();
                long result;
                while ((result = publication.offer(buffer, 0, PREFIX_BYTES + length)) < 0)
                {
                    if (result != Publication.BACK_PRESSURED && result != Publication.ADMIN_ACTION ||
                        System.nanoTime() > deadlineNs)
                    {
                        System.out.println("FAIL offer " + sequence + " returned " + result);
                        return 1;
                    }
                    idle.idle();
                }
                bytes += PREFIX_BYTES + length;
            }
            System.out.println("SENT " + messages + " " + bytes + " position " + publication.position());
            while (publication.isConnected() && System.nanoTime() < deadlineNs)
            {
                idle.idle();  // keep the log until the subscriber has read it all and gone
            }
        }
        return 0;
    }

    static int subscribe(final Aeron aeron, final String channel, final int streamId, final long messages)
    {
        final long[] state = new long[3];  // next sequence, bytes, failed (1)
        final FragmentHandler check = (DirectBuffer buffer, int offset, int length, io.aeron.logbuffer.Header h) ->
        {
            if (state[2] != 0)
            {
                return;
            }
            final long sequence = buffer.getLong(offset, ByteOrder.LITTLE_ENDIAN);
            final int bodyLength = buffer.getInt(offset + 8, ByteOrder.LITTLE_ENDIAN);
            final int crc = buffer.getInt(offset + 12, ByteOrder.LITTLE_ENDIAN);
            String error = null;
            if (sequence != state[0])
            {
                error = "sequence " + sequence + " expected " + state[0];
            }
            else if (bodyLength != bodyLength(sequence) || length != PREFIX_BYTES + bodyLength)
            {
                error = "length " + length + " body " + bodyLength + " expected body " + bodyLength(sequence);
            }
            else if (crc != crc(bodyStart(sequence), bodyLength))
            {
                error = "CRC field differs";
            }
            else
            {
                final byte[] body = new byte[bodyLength];
                buffer.getBytes(offset + PREFIX_BYTES, body);
                final CRC32 actual = new CRC32();
                actual.update(body);
                if ((int)actual.getValue() != crc ||
                    !java.util.Arrays.equals(body, 0, bodyLength, POOL, bodyStart(sequence),
                    bodyStart(sequence) + bodyLength))
                {
                    error = "body differs";
                }
            }
            if (error != null)
            {
                System.out.println("FAIL at message " + state[0] + ": " + error);
                state[2] = 1;
                return;
            }
            state[0]++;
            state[1] += length;
        };
        final FragmentAssembler assembler = new FragmentAssembler(check);
        final BackoffIdleStrategy idle = new BackoffIdleStrategy();
        final long deadlineNs = System.nanoTime() + DEADLINE_NS;
        try (Subscription subscription = aeron.addSubscription(channel, streamId))
        {
            System.out.println("READY");
            System.out.flush();
            while (state[0] < messages && state[2] == 0)
            {
                if (System.nanoTime() > deadlineNs)
                {
                    System.out.println("FAIL timeout after " + state[0] + " messages");
                    return 2;
                }
                idle.idle(subscription.poll(assembler, 256));
            }
        }
        if (state[2] != 0)
        {
            return 1;
        }
        System.out.println("OK " + state[0] + " " + state[1]);
        return 0;
    }
}
