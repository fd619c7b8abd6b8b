package dev.tandem.scheduling;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Continuous batching's decisions, each step worked out by hand; blocks of 4 positions. */
class StepSchedulerTest {
    /** A sequence as an engine drives it: a step that catches up samples one token. */
    static final class Seq implements BatchedSequence, CountedKvBlocks.Holder {
        final String name;
        final int prompt;
        final int limit;
        int tokens;
        int computed;
        int held;
        boolean finished;
        boolean preempted;

        Seq(String name, int prompt, int limit) {
            this.name = name;
            this.prompt = prompt;
            this.limit = limit;
            this.tokens = prompt;
        }

        @Override public int tokens() { return tokens; }
        @Override public int computedTokens() { return computed; }
        @Override public void computedTokens(int c) { computed = c; }
        @Override public int promptTokens() { return prompt; }
        @Override public int limit() { return limit; }
        @Override public boolean finished() { return finished; }
        @Override public void outgrewCache() { finished = true; }
        @Override public void preempted() { preempted = true; }
        @Override public int heldBlocks() { return held; }
        @Override public void heldBlocks(int blocks) { held = blocks; }

        @Override
        public String toString() {
            return name;
        }
    }

    /** One step: the plan as "name:start+count" entries, then each sequence that caught up takes a token. */
    private static String step(StepScheduler<Seq> scheduler, List<Seq> retired) {
        StepPlan<Seq> plan = scheduler.schedule(s -> { });
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < plan.size(); i++) {
            sb.append(i == 0 ? "" : " ").append(plan.sequence(i)).append(':').append(plan.start(i)).append('+')
                    .append(plan.tokens(i));
        }
        for (int i = 0; i < plan.size(); i++) {
            Seq s = plan.sequence(i);
            if (plan.catchesUp(i)) {
                s.tokens++;
                s.finished = s.tokens >= s.limit;
            }
        }
        scheduler.retireFinished(retired::add);
        return sb.toString();
    }

    @Test
    void shouldChunkPromptsWithinTheBudgetBesideDecodingSequences() {
        CountedKvBlocks<Seq> kv = new CountedKvBlocks<>(100, 4);
        StepScheduler<Seq> scheduler = new StepScheduler<>(8, kv);
        Seq a = new Seq("a", 6, 8);   // two tokens
        Seq b = new Seq("b", 10, 11); // one token: prefill only
        scheduler.add(a);
        scheduler.add(b);
        List<Seq> retired = new ArrayList<>();
        assertEquals("a:0+6 b:0+2", step(scheduler, retired)); // a's prompt whole, b's first chunk fills the 8
        // admitted with their tokens and the next one: a 7 positions (2 blocks), b 11 (3 blocks)
        assertEquals(2, a.held);
        assertEquals(3, b.held);
        assertEquals(95, kv.freeBlocks());
        assertEquals("a:6+1 b:2+7", step(scheduler, retired)); // a decodes; b gets the other 7
        assertEquals(List.of(a), retired, "a reached its 8 tokens");
        assertEquals("b:9+1", step(scheduler, retired));
        assertEquals(List.of(a, b), retired);
        assertEquals(100, kv.freeBlocks(), "every block back");
        assertTrue(!scheduler.hasWork());
    }

    @Test
    void shouldTakeTheDecodingSequencesTokensBeforeAPromptAdmittedAheadOfThem() {
        CountedKvBlocks<Seq> kv = new CountedKvBlocks<>(100, 4);
        StepScheduler<Seq> scheduler = new StepScheduler<>(8, kv);
        Seq prompt = new Seq("p", 20, 21);
        Seq decoding = new Seq("d", 4, 10); // a token machine's: its prompt computed elsewhere, its first token known
        decoding.tokens = 5;
        decoding.computed = 4;
        scheduler.add(prompt);
        scheduler.add(decoding);
        List<Seq> retired = new ArrayList<>();
        // in admission order alone, p's chunks would take all 8 for three steps while d waited
        assertEquals("d:4+1 p:0+7", step(scheduler, retired));
        assertEquals("d:5+1 p:7+7", step(scheduler, retired));
        assertEquals("d:6+1 p:14+6", step(scheduler, retired));
    }

    @Test
    void shouldHoldBackAdmissionAtTheReserveAndPreemptTheNewestWhenBlocksRunOut() {
        // 6 blocks of 4: 24 positions; x and y: 4-token prompts, 12 tokens each
        CountedKvBlocks<Seq> kv = new CountedKvBlocks<>(6, 4);
        StepScheduler<Seq> scheduler = new StepScheduler<>(8, kv);
        Seq x = new Seq("x", 4, 16);
        Seq y = new Seq("y", 4, 16);
        scheduler.add(x);
        scheduler.add(y);
        List<Seq> retired = new ArrayList<>();
        List<String> steps = new ArrayList<>();
        while (scheduler.hasWork() && steps.size() < 50) {
            steps.add(step(scheduler, retired));
        }
        List<String> expected = new ArrayList<>(List.of("x:0+4 y:0+4"));
        for (int pos = 4; pos <= 11; pos++) {
            expected.add("x:" + pos + "+1 y:" + pos + "+1"); // 3 blocks each by position 8: none left
        }
        // x's 13th position needs a fourth block: y, the newest, gives its three up and waits; its 14
        // positions (4 blocks) are not admitted while x runs (2 free, less the reserve of 1)
        expected.addAll(List.of("x:12+1", "x:13+1", "x:14+1"));
        expected.addAll(List.of("y:0+8", "y:8+5", "y:13+1", "y:14+1")); // y recomputes its 13 tokens, then decodes
        assertEquals(expected, steps);
        assertTrue(y.preempted && !x.preempted);
        assertEquals(1, scheduler.preemptions());
        assertEquals(List.of(x, y), retired);
        assertEquals(6, kv.freeBlocks());
    }

    @Test
    void shouldEndASequenceAloneInACacheThatHoldsNoMoreOfIt() {
        CountedKvBlocks<Seq> kv = new CountedKvBlocks<>(2, 4); // 8 positions
        StepScheduler<Seq> scheduler = new StepScheduler<>(8, kv);
        Seq z = new Seq("z", 4, 20);
        scheduler.add(z);
        List<Seq> retired = new ArrayList<>();
        List<String> steps = new ArrayList<>();
        while (scheduler.hasWork() && steps.size() < 50) {
            steps.add(step(scheduler, retired));
        }
        // positions 0-7 fit; the step for position 8 finds no block and nobody to take one from
        assertEquals(List.of("z:0+4", "z:4+1", "z:5+1", "z:6+1", "z:7+1", ""), steps);
        assertEquals(9, z.tokens, "5 tokens generated before the cache ran out");
        assertEquals(List.of(z), retired);
        assertEquals(0, scheduler.preemptions());
    }
}
