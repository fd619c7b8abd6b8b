package dev.tandem.scheduling;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MachineRankingTest {
    /** What the ranking must return: a scan in index order keeping the first of the best. */
    private static int scan(long[] key, long[] room, boolean[] excluded, long minRoom, IntPredicate fits) {
        int best = -1;
        for (int i = 0; i < key.length; i++) {
            if (!excluded[i] && room[i] >= minRoom && fits.test(i) && (best < 0 || key[i] < key[best])) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void findsWhatAScanFindsThroughRandomChanges() {
        SplittableRandom random = new SplittableRandom(7);
        for (int machines : new int[] {1, 2, 3, 5, 8, 13, 100}) {
            long[] key = new long[machines];
            long[] room = new long[machines];
            boolean[] excluded = new boolean[machines];
            for (int i = 0; i < machines; i++) {
                key[i] = random.nextInt(4); // few values: ties are common and go to the lower index
                room[i] = random.nextInt(50);
            }
            MachineRanking ranking = new MachineRanking(machines,
                    (a, b) -> key[a] != key[b] ? key[a] < key[b] : a < b, room, excluded);
            for (int step = 0; step < 2_000; step++) {
                int m = random.nextInt(machines);
                switch (random.nextInt(3)) {
                    case 0 -> key[m] = random.nextInt(4);
                    case 1 -> room[m] = random.nextInt(50);
                    default -> excluded[m] = random.nextInt(4) == 0;
                }
                ranking.changed(m);
                long minRoom = random.nextInt(50);
                int odd = random.nextInt(2);
                IntPredicate fits = random.nextBoolean() ? i -> true : i -> i % 2 == odd; // stricter than minRoom
                assertEquals(scan(key, room, excluded, minRoom, fits), ranking.best(minRoom, fits),
                        machines + " machines, step " + step);
            }
        }
    }

    @Test
    void noMachinesFindsNone() {
        MachineRanking ranking = new MachineRanking(0, (a, b) -> a < b, new long[0], new boolean[0]);
        assertEquals(-1, ranking.best(0, i -> true));
    }
}
