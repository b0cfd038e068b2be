//! The prompt cache's placement, RAM tier and budget rules, without a model.

use super::*;

fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
    ids.iter().map(|&id| LlamaToken(id)).collect()
}

/// A placement that copies nothing from another slot.
fn in_place(slot: usize, reuse: usize, trim: bool) -> Option<Placement<u32>> {
    Some(Placement {
        slot,
        reuse,
        trim,
        copy_from: None,
        restore: None,
        displaced: None,
    })
}

/// Cached conversations carry a number in these tests in place of their KV cells.
type Cache = PromptCache<u32>;

/// A placement without the conversation it displaces, and that conversation's tokens.
fn displacing(placement: Option<Placement<u32>>) -> (Option<Placement<u32>>, Vec<i32>) {
    let Some(mut placement) = placement else {
        return (None, Vec::new());
    };
    let displaced = placement
        .displaced
        .take()
        .map_or_else(Vec::new, |d| d.tokens.iter().map(|token| token.0).collect());
    (Some(placement), displaced)
}

const ALICE: CacheOwner = CacheOwner([1; 32]);
const BOB: CacheOwner = CacheOwner([2; 32]);

#[test]
fn the_owner_gets_their_prefix_back_and_nobody_else_does() {
    let mut cache = Cache::new(2, 1000, Duration::from_secs(60));
    assert!(cache
        .keep(0, Some(ALICE), tokens(&[1, 2, 3, 4]), Vec::new())
        .is_empty());
    let bob = cache.place(&[0, 1], Some(BOB), &tokens(&[1, 2, 3, 4, 5]), &[]);
    assert_eq!(bob, in_place(1, 0, false));
    let alice = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5]), &[]);
    assert_eq!(alice, in_place(0, 4, false));
}

#[test]
fn a_diverging_prompt_trims_and_an_identical_one_keeps_a_token_to_decode() {
    let mut cache = Cache::new(1, 1000, Duration::from_secs(60));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4]), Vec::new());
    assert_eq!(
        cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 9]), &[]),
        in_place(0, 2, true)
    );
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3]), Vec::new());
    assert_eq!(
        cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3]), &[]),
        in_place(0, 2, true)
    );
}

#[test]
fn a_different_conversation_goes_to_an_empty_slot_instead_of_overwriting_one() {
    let mut cache = Cache::new(2, 1000, Duration::from_secs(60));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6]), Vec::new());
    // Shares only the first two tokens (say, a default system prompt).
    let other = cache.place(&[0, 1], Some(ALICE), &tokens(&[1, 2, 9, 9]), &[]);
    assert_eq!(other, in_place(1, 0, false));
    // With no empty slot left, the partial match is still better than nothing; the
    // conversation it cuts short is to be set aside.
    let again = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 8]), &[]);
    assert_eq!(
        displacing(again),
        (in_place(0, 2, true), vec![1, 2, 3, 4, 5, 6])
    );
}

#[test]
fn a_long_shared_prefix_is_copied_into_an_empty_slot() {
    let mut cache = Cache::new(2, 1000, Duration::from_secs(60)).with_prefix_copy(3);
    cache.keep(
        0,
        Some(ALICE),
        tokens(&[1, 2, 3, 4, 5, 6, 7, 8]),
        Vec::new(),
    );
    // Three shared tokens (a system prompt) of an eight-token conversation: copied.
    assert_eq!(
        cache.place(&[0, 1], Some(ALICE), &tokens(&[1, 2, 3, 9, 9]), &[]),
        Some(Placement {
            slot: 1,
            reuse: 3,
            trim: true,
            copy_from: Some(0),
            restore: None,
            displaced: None,
        })
    );
    // The source keeps its conversation; nobody else gets a copy of it.
    assert_eq!(cache.cached_slots(), 1);
    let bob = cache.place(&[0], Some(BOB), &tokens(&[1, 2, 3, 9, 9]), &[]);
    assert_eq!(bob.map(|p| (p.reuse, p.copy_from)), Some((0, None)));
}

#[test]
fn a_running_request_of_the_same_owner_lends_its_prefix() {
    let mut cache = Cache::new(3, 1000, Duration::from_secs(60)).with_prefix_copy(3);
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 9]), Vec::new());
    let alice_running = tokens(&[1, 2, 3, 4, 5, 6]);
    let bob_running = tokens(&[1, 2, 3, 4, 5, 7]);
    let running = [
        (1, Some(ALICE), &alice_running[..]),
        (2, Some(BOB), &bob_running[..]),
    ];
    // Alice's cached slot shares two tokens; her running request five: it is copied,
    // over what the slot held.
    assert_eq!(
        displacing(cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5, 8]), &running)),
        (
            Some(Placement {
                slot: 0,
                reuse: 5,
                trim: true,
                copy_from: Some(1),
                restore: None,
                displaced: None,
            }),
            vec![1, 2, 9]
        )
    );
    // Bob's running request shares as much, but is never a source for anyone else, nor
    // for callers without an owner.
    cache.keep(0, Some(ALICE), tokens(&[1, 9]), Vec::new());
    let only_bob = [(2, Some(BOB), &bob_running[..])];
    let alice = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5, 7]), &only_bob);
    assert_eq!(alice, in_place(0, 1, true));
    let nobody = cache.place(&[0], None, &tokens(&[1, 2, 3, 4, 5, 7]), &only_bob);
    assert_eq!(nobody.map(|p| (p.reuse, p.copy_from)), Some((0, None)));
}

#[test]
fn a_new_request_joins_the_running_slots_rather_than_scatter_them() {
    let running_tokens = tokens(&[7]);
    let running = |slots: &[usize]| -> Vec<(usize, Option<CacheOwner>, &[LlamaToken])> {
        slots
            .iter()
            .map(|&slot| (slot, Some(BOB), &running_tokens[..]))
            .collect()
    };
    // Empty slots: one next to the running ones, not the first.
    let mut cache = Cache::new(6, 1000, Duration::from_secs(60));
    let prompt = tokens(&[1, 2]);
    let placed = cache.place(&[0, 1, 4, 5], Some(ALICE), &prompt, &running(&[2, 3]));
    assert_eq!(placed, in_place(1, 0, false));
    let placed = cache.place(&[0, 5], Some(ALICE), &prompt, &running(&[2, 3, 4]));
    assert_eq!(placed, in_place(5, 0, false));
    assert_eq!(runs_with(&[false, false, true, true, false, false], 0), 2);
    assert_eq!(runs_with(&[false, false, true, true, false, false], 1), 1);

    // Cached slots sharing about as much (a system prompt, one more token in slot 5):
    // the contiguous one. A conversation of the owner's wins wherever it is.
    let mut cache = Cache::new(6, 1000, Duration::from_secs(60));
    for slot in [0, 4, 5] {
        let extra = if slot == 5 { 3 } else { 9 };
        cache.keep(
            slot,
            Some(ALICE),
            tokens(&[1, 2, extra, 9, 9, 9]),
            Vec::new(),
        );
    }
    let placed = cache.place(
        &[0, 4, 5],
        Some(ALICE),
        &tokens(&[1, 2, 3, 8]),
        &running(&[2, 3]),
    );
    assert_eq!(
        displacing(placed),
        (in_place(4, 2, true), vec![1, 2, 9, 9, 9, 9])
    );
    let long: Vec<i32> = (0..100).collect();
    cache.keep(5, Some(ALICE), tokens(&long), Vec::new());
    let mut next_turn = long.clone();
    next_turn.push(5);
    let placed = cache.place(
        &[0, 4, 5],
        Some(ALICE),
        &tokens(&next_turn),
        &running(&[2, 3]),
    );
    assert_eq!(placed, in_place(5, 100, false));
}

/// Places `prompt` in the only slot, setting aside what it displaces under `state`.
fn place_spilling(
    cache: &mut Cache,
    owner: CacheOwner,
    prompt: &[i32],
    state: u32,
) -> Placement<u32> {
    let mut placement = cache
        .place(&[0], Some(owner), &tokens(prompt), &[])
        .expect("placed");
    if let Some(displaced) = placement.displaced.take() {
        assert!(cache.spill(displaced, || Some(state)).is_empty());
    }
    placement
}

#[test]
fn a_displaced_conversation_comes_back_from_ram_for_its_owner_only() {
    let mut cache = Cache::new(1, 1000, Duration::from_secs(60));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6]), Vec::new());
    // Another conversation of Alice's takes the slot: the first goes to RAM.
    let other = place_spilling(&mut cache, ALICE, &[1, 2, 7, 8], 10);
    assert_eq!((other.reuse, other.restore), (2, None));
    assert_eq!(cache.spilled_conversations(), 1);
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 7, 8, 9]), Vec::new());

    // Bob asking the same gets nothing of it, and his request displaces Alice's second.
    let bob = place_spilling(&mut cache, BOB, &[1, 2, 3, 4, 5, 6, 7], 11);
    assert_eq!((bob.reuse, bob.restore), (0, None));
    assert_eq!(cache.spilled_conversations(), 2);
    cache.keep(0, Some(BOB), tokens(&[1, 2, 3, 4, 5, 6, 7]), Vec::new());

    // Alice's next turn of her first conversation gets its cells back from RAM, and
    // Bob's conversation is set aside in turn.
    let back = place_spilling(&mut cache, ALICE, &[1, 2, 3, 4, 5, 6, 10], 12);
    assert_eq!(
        (back.reuse, back.trim, back.restore, back.copy_from),
        (6, false, Some(10), None)
    );
    assert_eq!(cache.spilled_conversations(), 2);
    // Only what shares more than the slot itself comes back.
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6, 10]), Vec::new());
    let next = place_spilling(&mut cache, ALICE, &[1, 2, 3, 4, 5, 6, 10, 11], 13);
    assert_eq!((next.reuse, next.restore), (7, None));
}

#[test]
fn with_a_sliding_window_a_conversation_is_restored_whole_or_when_within_the_window() {
    let mut cache = Cache::new(1, 1000, Duration::from_secs(60)).with_sliding_window(4);
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6]), Vec::new());
    place_spilling(&mut cache, ALICE, &[9, 9], 10);
    cache.keep(0, Some(ALICE), tokens(&[9, 9, 9]), Vec::new());
    // Cut back to four of its six tokens, the saved window would lack positions the fourth
    // attends to: prefilled instead of restored (and the slot's conversation is kept).
    let cut = place_spilling(&mut cache, ALICE, &[1, 2, 3, 4, 8], 11);
    assert_eq!((cut.reuse, cut.restore), (0, None));
    // Continued whole, it comes back.
    let whole = place_spilling(&mut cache, ALICE, &[1, 2, 3, 4, 5, 6, 7], 12);
    assert_eq!((whole.reuse, whole.restore), (6, Some(10)));
    // A conversation no longer than the window may be cut back.
    let short = place_spilling(&mut cache, ALICE, &[9, 9, 5], 13);
    assert_eq!((short.reuse, short.restore), (2, Some(11)));
}

#[test]
fn ram_counts_towards_the_budget_and_goes_with_its_owner() {
    let mut cache = Cache::new(1, 10, Duration::from_secs(60));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6]), Vec::new());
    place_spilling(&mut cache, ALICE, &[9, 9], 10);
    assert_eq!(cache.spilled_conversations(), 1);
    // Six tokens in RAM and five in the slot pass the budget of ten: the least recently
    // used goes, here the one in RAM, and no slot needs clearing.
    assert!(cache
        .keep(0, Some(ALICE), tokens(&[9, 9, 1, 2, 3]), Vec::new())
        .is_empty());
    assert_eq!(cache.spilled_conversations(), 0);

    place_spilling(&mut cache, BOB, &[7, 7], 11);
    assert_eq!(cache.spilled_conversations(), 1);
    assert!(cache.forget(ALICE).is_empty());
    assert_eq!(cache.spilled_conversations(), 0);
    cache.keep(0, Some(BOB), tokens(&[7, 7, 7]), Vec::new());
    place_spilling(&mut cache, ALICE, &[5, 5], 12);
    assert_eq!(cache.spilled_conversations(), 1);
    assert!(cache.keep_only(&HashSet::from([ALICE])).is_empty());
    assert_eq!(cache.spilled_conversations(), 0);
    cache.keep(0, Some(ALICE), tokens(&[5, 5, 5]), Vec::new());
    place_spilling(&mut cache, BOB, &[4, 4], 13);
    assert!(cache
        .expire(Instant::now() + Duration::from_secs(60))
        .is_empty());
    assert_eq!(cache.spilled_conversations(), 0);
}

#[test]
fn a_conversation_its_owner_already_holds_is_not_copied_again() {
    let mut cache = Cache::new(2, 1000, Duration::from_secs(60));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4]), Vec::new());
    cache.keep(1, Some(ALICE), tokens(&[1, 2, 3]), Vec::new());
    // Slot 0 holds all of slot 1's conversation: its cells are not saved.
    let held = cache.displace(1).expect("slot 1 was cached");
    assert!(cache.spill(held, || panic!("saved a copy")).is_empty());
    assert_eq!(cache.spilled_conversations(), 0);
    // Nor when RAM holds it.
    let first = cache.displace(0).expect("slot 0 was cached");
    assert!(cache.spill(first, || Some(1)).is_empty());
    cache.keep(0, Some(ALICE), tokens(&[1, 2]), Vec::new());
    let prefix = cache.displace(0).expect("slot 0 was cached");
    assert!(cache.spill(prefix, || panic!("saved a copy")).is_empty());
    assert_eq!(cache.spilled_conversations(), 1);
}

#[test]
fn budget_forget_and_expiry_evict() {
    let mut cache = Cache::new(3, 5, Duration::from_millis(0));
    cache.keep(0, Some(ALICE), tokens(&[1, 2, 3]), Vec::new());
    assert_eq!(
        cache.keep(1, Some(BOB), tokens(&[4, 5, 6]), Vec::new()),
        vec![0]
    );
    assert_eq!(cache.forget(BOB), vec![1]);
    cache.keep(2, Some(ALICE), tokens(&[7]), Vec::new());
    assert_eq!(cache.expire(Instant::now()), vec![2]);
    assert_eq!(cache.keep(0, None, tokens(&[1]), Vec::new()), vec![0]);
}
