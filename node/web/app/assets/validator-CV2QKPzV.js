import{bm as i}from"./index-FSgvwfNP.js";const n=o=>["",...i].includes(o);export{n as i};
