//! The transit class indices the scenes are labelled with (see `taxonomy::TRANSIT_CLASSES`).

pub(super) const ROAD: u8 = 0;
pub(super) const SIDEWALK: u8 = 1;
pub(super) const BUILDING: u8 = 2;
pub(super) const WALL: u8 = 3;
pub(super) const FENCE: u8 = 4;
pub(super) const POLE: u8 = 5;
pub(super) const TRAFFIC_LIGHT: u8 = 6;
pub(super) const TRAFFIC_SIGN: u8 = 7;
pub(super) const VEGETATION: u8 = 8;
pub(super) const TERRAIN: u8 = 9;
pub(super) const SKY: u8 = 10;
pub(super) const PERSON: u8 = 11;
pub(super) const RIDER: u8 = 12;
pub(super) const CAR: u8 = 13;
pub(super) const TRUCK: u8 = 14;
pub(super) const BUS: u8 = 15;
pub(super) const TRAIN: u8 = 16;
pub(super) const MOTORCYCLE: u8 = 17;
pub(super) const BICYCLE: u8 = 18;
pub(super) const RAIL_TRACK: u8 = 19;
